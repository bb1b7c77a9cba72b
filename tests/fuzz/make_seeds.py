#!/usr/bin/python3
"""Writes the big regression seeds of the fuzz targets (the hardening issue's
inputs) to OUT/<target>/, so the repository does not carry megabytes:

  - a JSON nested 100,000 levels deep, as arrays and as objects;
  - an object with 100,000 keys (also as a list envelope and a batch result);
  - '<html>"access_token":"' + 200,000 'A' (an unterminated secret);
  - an envelope whose strings carry ill-formed UTF-8;
  - a cursor over ExportCursor::kMaxLength.

Every seed is below 1 MiB (the -max_len .ci/fuzz gives those targets), and
the parsers are linear, so each must run in well under a second.
envelope_fuzz takes the HTTP status from its first two bytes.

Usage: make_seeds.py OUT
"""
import os
import sys

DEPTH = 100_000
KEYS = 100_000
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def status(code):
    return code.to_bytes(2, "big")


def key(i):  # 3 characters from [0-9A-Za-z]: 238,328 distinct keys
    return ALNUM[i // 3844] + ALNUM[i // 62 % 62] + ALNUM[i % 62]


def main(out):
    deep_arrays = b"[" * DEPTH + b"]" * DEPTH
    deep_objects = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    many_keys = ("{" + ",".join('"%s":%d' % (key(i), i % 10) for i in range(KEYS)) + "}").encode()
    html_token = b'<html>"access_token":"' + b"A" * 200_000
    bad_title = b"deal \xff\xfe \xc3 \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82"  # each an ill-formed sequence
    bad_titles = (b'{"ID":%d,"TITLE":"%s"}' % (i, bad_title) for i in range(2000))
    bad_utf8 = b'{"result":[' + b",".join(bad_titles) + b'],"total":2000}'
    seeds = {
        "json": {
            "deep_arrays": deep_arrays,
            "deep_objects": deep_objects,
            "many_keys": many_keys,
            "html_token": html_token,
            "bad_utf8": bad_utf8,
        },
        "envelope": {
            "deep_arrays": status(200) + deep_arrays,
            "deep_objects": status(200) + deep_objects,
            "deep_result": status(200) + b'{"result":' + deep_arrays + b"}",
            "many_keys": status(200) + b'{"result":' + many_keys + b',"total":100000}',
            "many_keys_error": status(400) + many_keys[:-1] + b',"error":"ERROR_ARGUMENT"}',
            "html_token": status(502) + html_token,
            "bad_utf8": status(200) + bad_utf8,
            "bad_utf8_error": (status(400) + b'{"error":"\xff' + b"\xc3" * 300 + b'","error_description":"'
                               + b"\xe2\x82" * 3000 + b'"}'),
        },
        "batch": {
            "deep_arrays": deep_arrays,
            "deep_result": b'{"result":{"result":{"a":' + deep_arrays + b"}}}",
            "many_keys": (b'{"result":{"result":' + many_keys + b',"result_error":[],"result_time":'
                          b'{"000":{"operating":1.5,"processing":0.2,"operating_reset_at":1700000000}}}}'),
            "many_errors": b'{"result":{"result":[],"result_error":' + many_keys + b"}}",
            "bad_utf8": b'{"result":{"result":{"a":' + bad_utf8 + b'},"result_error":{"b":{"error":"\xff\xfe"}}}}',
        },
        "redact": {
            "html_token": html_token,
            "deep_objects": deep_objects,
            "bad_utf8": bad_utf8,
            "form_token": b"auth=" + b"A" * 200_000,
            "webhook": b"/rest/1/" + b"a" * 200_000,
        },
        "cursor": {
            "too_long": b"c2." + b"A" * 5000 + b"." + b"B" * 43,
        },
        "utf8": {
            "html_token": html_token,
            "bad_utf8": bad_utf8,
            "all_bytes": bytes(range(256)) * 1000,
            "truncated_sequences": b"\xf0\x9f\x98" * 50_000,
        },
    }
    for target, files in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            assert len(data) < 1 << 20, (target, name, len(data))
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
