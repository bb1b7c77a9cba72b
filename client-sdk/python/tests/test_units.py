"""Portal parsing, request building and the cursor rule of GetAll streams (no stack needed)."""

from __future__ import annotations

import json
from typing import Any, List

import pytest

from bitrix24_service import BatchResult, Portal
from bitrix24_service._convert import batch_request, call_request, from_value, get_all_request
from bitrix24_service._gen.bitrix24.v1 import bitrix24_pb2 as pb
from bitrix24_service._stream import StreamState
from bitrix24_service.portal import portal_ref

MEMBER = "0123456789abcdefABCDEF0123456789"


@pytest.mark.parametrize("text,kind", [
    ("https://example.bitrix24.com/rest/1/abc123/", "webhook_url"),
    ("http://127.0.0.1:8080/rest/1/code/", "webhook_url"),
    (MEMBER, "member_id"),
    (MEMBER[:31], "name"),  # 31 hex digits
    (MEMBER + "0", "name"),  # 33
    ("0123456789abcdef0123456789abcdeg", "name"),  # not hex
    ("sandbox", "name"),
    ("HTTPS://x.bitrix24.com/rest/1/a/", "name"),  # like the C++ client: the scheme is case-sensitive
    ("ftp://x/", "name"),
])
def test_portal_strings_parse_like_the_cpp_client(text: str, kind: str) -> None:
    ref = portal_ref(text)
    assert ref.WhichOneof("portal") == kind and getattr(ref, kind) == text


def test_explicit_portals() -> None:
    assert portal_ref(Portal.named(MEMBER)).name == MEMBER  # a name that looks like a member_id
    assert portal_ref(Portal.member("m")).member_id == "m"
    assert portal_ref(Portal.webhook("https://a.bitrix24.com/rest/1/x/")).webhook_url.endswith("/x/")
    assert portal_ref(pb.PortalRef(name="n")).name == "n"
    assert "secret" not in repr(Portal.webhook("https://a.bitrix24.com/rest/1/secret/"))
    with pytest.raises(ValueError):
        portal_ref("")
    with pytest.raises(TypeError):
        portal_ref(42)  # type: ignore[arg-type]


def test_params_round_trip_json() -> None:
    params = {"id": 42, "f": 1.5, "s": "x", "b": True, "n": None, "l": [1, {"a": []}], "o": {"k": {"k2": "v"}}}
    req = call_request("sandbox", "crm.deal.get", params)
    assert from_value(pb.CallResponse(result={"struct_value": req.params}).result) == params
    assert not call_request("sandbox", "profile", None).HasField("params")


@pytest.mark.parametrize("params,error", [
    ({"id": 2**60}, ValueError),  # would lose precision as a double
    ({"d": object()}, TypeError),
    ({1: "x"}, TypeError),
    ({"f": float("nan")}, ValueError),
    (["not", "an", "object"], TypeError),
])
def test_params_that_are_not_exact_json_are_refused(params: Any, error: type) -> None:
    with pytest.raises(error):
        call_request("sandbox", "crm.deal.get", params)


def test_batch_command_forms() -> None:
    forms: List[Any] = [
        {"a": {"method": "crm.deal.get", "params": {"id": 1}}, "b": ("profile", None), "c": "profile"},
        [{"key": "a", "method": "crm.deal.get", "params": {"id": 1}}, {"key": "b", "method": "profile"},
         {"key": "c", "method": "profile"}],
    ]
    for commands in forms:
        req = batch_request("sandbox", commands, halt=True)
        assert [(c.key, c.method) for c in req.commands] == [("a", "crm.deal.get"), ("b", "profile"), ("c", "profile")]
        assert req.commands[0].params.fields["id"].number_value == 1 and req.halt


@pytest.mark.parametrize("commands,error", [
    ([{"key": "a", "method": "x"}, {"key": "a", "method": "y"}], ValueError),  # duplicate key
    ({"a": {"method": "x", "param": {}}}, ValueError),  # typo
    ({"a": 42}, TypeError),
    ({}, ValueError),
    ({"a": {"params": {}}}, TypeError),  # no method
    ("crm.deal.get", TypeError),
])
def test_bad_batches_are_refused_before_sending(commands: Any, error: type) -> None:
    with pytest.raises(error):
        batch_request("sandbox", commands, halt=False)


def test_get_all_request_asks_for_json() -> None:
    req = get_all_request("sandbox", "crm.deal.list", {"select": ["ID"]}, 10, "c", 2)
    assert req.format == pb.GetAllRequest.FORMAT_JSON
    assert (req.limit, req.cursor, req.max_parallel_ranges) == (10, "c", 2)
    with pytest.raises(ValueError):
        get_all_request("sandbox", "crm.deal.list", None, -1, None, 0)


def test_batch_result_is_a_dict() -> None:
    r = BatchResult(a={"result": 1})
    assert r == {"a": {"result": 1}} and r.http_requests == 0


def msg(ids: List[int], cursor: str) -> pb.GetAllResponse:
    return pb.GetAllResponse(items_json=[json.dumps({"ID": str(i)}).encode() for i in ids], cursor=cursor)


def test_the_cursor_covers_exactly_the_items_handed_out() -> None:
    s = StreamState("crm.deal.list", "start")
    seen = []
    # A chunk split for size: its first message has no cursor; then an empty message with one.
    for m in [msg([1, 2, 3], "c3"), msg([4, 5], ""), msg([6], "c6"), msg([], "c6b"), msg([7, 8], "c8")]:
        s._accept(m)
        while s._has_item():
            seen.append((s._pop()["ID"], s.cursor))
        seen.append(("-", s.cursor))
    assert seen == [
        ("1", "start"), ("2", "start"), ("3", "c3"), ("-", "c3"),  # published with the LAST item
        ("4", "c3"), ("5", "c3"), ("-", "c3"),  # no cursor: the old one still covers everything
        ("6", "c6"), ("-", "c6"),
        ("-", "c6b"),  # an empty message's cursor covers nothing new: taken at once
        ("7", "c6b"), ("8", "c8"), ("-", "c8"),
    ]
    assert s.items_yielded == 8
