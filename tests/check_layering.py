#!/usr/bin/env python3
"""Fails when a library's source includes a header of a library it does not link.

Usage: check_layering.py SOURCE_DIR BUILD_DIR/layering.txt

layering.txt is written by CMake (b24_library in cmake/B24Targets.cmake): one line
per library, "b24::name|folder|deps|sources". A library's sources and their
headers (same path, .h) may include project headers only of their own library or
of the libraries it links, directly or through theirs. A header belongs to the
library whose source has its stem, or, for header-only files, to the only
library of its folder. storage/ must include nothing from service/ at all.
"""
import os
import re
import sys

GENERATED = {"bitrix24/": "b24::proto", "google/rpc/": "b24::proto",
             "grpc/health/": "b24::health_proto", "grpc/reflection/": "b24::health_proto"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main():
    source_dir, layering = sys.argv[1], sys.argv[2]
    libs = {}  # name -> (folder, deps)
    for line in open(layering):
        line = line.strip()
        if not line:
            continue
        name, folder, deps, sources = line.split("|")
        files = [os.path.join(folder, f) for f in sources.split()]
        libs[name] = (folder, [d for d in deps.split() if d.startswith("b24::")], files)
    by_folder = {}
    for name, (folder, _, _) in libs.items():
        by_folder.setdefault(folder, []).append(name)
    by_stem = {}
    for name, (_, _, files) in libs.items():
        for f in files:
            by_stem[os.path.splitext(f)[0]] = name

    def closure(name):
        seen, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n in seen or n not in libs and n not in GENERATED.values():
                seen.add(n)
                continue
            seen.add(n)
            todo.extend(libs.get(n, ("", [], []))[1])
        return seen

    def owner(path):
        for prefix, lib in GENERATED.items():
            if path.startswith(prefix):
                return lib
        stem = os.path.splitext(path)[0]
        if stem in by_stem:
            return by_stem[stem]
        owners = by_folder.get(os.path.dirname(path), [])
        return owners[0] if len(owners) == 1 else None

    errors = []
    checked = 0
    for name, (folder, _, files) in sorted(libs.items()):
        allowed = closure(name)
        own = set()
        for f in files:
            own.add(f)
            header = os.path.splitext(f)[0] + ".h"
            if os.path.exists(os.path.join(source_dir, header)):
                own.add(header)
        if len(by_folder[folder]) == 1:  # header-only files of a one-library folder
            own.update(os.path.join(folder, f) for f in os.listdir(os.path.join(source_dir, folder)) if f.endswith(".h"))
        for where in sorted(own):
            text = open(os.path.join(source_dir, where), encoding="utf-8").read()
            checked += 1
            for inc in INCLUDE.findall(text):
                if where.startswith("storage/") and inc.startswith("service/"):
                    errors.append(f"{where}: storage/ must not include {inc}")
                    continue
                lib = owner(inc)
                if lib is None:
                    continue  # a header-only file of a shared folder (tests/testing)
                if lib not in allowed:
                    errors.append(f"{where}: includes {inc} of {lib}, but {name} does not link {lib}")
    for e in errors:
        print(e)
    print(f"checked {checked} files of {len(libs)} libraries: {len(errors)} layering errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
