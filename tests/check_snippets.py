#!/usr/bin/env python3
"""Fails when a README code snippet drifts from the example file it shows.

Usage: check_snippets.py SOURCE_DIR

A fenced code block right after a line `<!-- snippet: PATH -->` in any README.md of the
repository is the example at PATH (relative to SOURCE_DIR), which CI runs: every
non-empty line of the block, stripped, must be a line of that file, in the same order.
"""
import os
import re
import sys

MARK = re.compile(r"<!-- snippet: (\S+) -->\s*\n```[a-z]*\n(.*?)\n```", re.S)


def main():
    root = sys.argv[1]
    errors, checked = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "build")) and d != "node_modules"]
        if "README.md" not in filenames:
            continue
        readme = os.path.join(dirpath, "README.md")
        text = open(readme, encoding="utf-8").read()
        for path, block in MARK.findall(text):
            checked += 1
            target = os.path.join(root, path)
            if not os.path.exists(target):
                errors.append(f"{readme}: snippet of {path}, which does not exist")
                continue
            lines = [l.strip() for l in open(target, encoding="utf-8").read().splitlines()]
            at = 0
            for want in (l.strip() for l in block.splitlines()):
                if not want:
                    continue
                try:
                    at = lines.index(want, at) + 1
                except ValueError:
                    errors.append(f"{readme}: snippet line not in {path} (in order): {want}")
                    break
    for e in errors:
        print(e, file=sys.stderr)
    if checked == 0:
        print("check_snippets: no snippets found", file=sys.stderr)
        return 1
    print(f"check_snippets: {checked} snippets match their example files")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
