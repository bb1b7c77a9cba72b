"""The tests exercise the installed package, not the source tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bitrix24_service

SOURCE = Path(__file__).resolve().parents[1]


def test_the_installed_package_is_imported() -> None:
    where = Path(bitrix24_service.__file__).resolve()
    assert SOURCE not in where.parents, f"imported from the source tree: {where}"
    venv = os.environ.get("B24_EXPECT_INSTALLED_IN")
    if venv is None:
        pytest.skip("B24_EXPECT_INSTALLED_IN is set by run-tests.sh")
    assert Path(venv).resolve() in where.parents, f"{where} is not in {venv}"


def test_the_wheel_has_the_stubs_and_the_type_marker() -> None:
    package = Path(bitrix24_service.__file__).parent
    assert (package / "py.typed").is_file()
    for stub in ("_gen/bitrix24/v1/bitrix24_pb2.py", "_gen/bitrix24/v1/bitrix24_pb2_grpc.py",
                 "_gen/bitrix24/v1/bitrix24_pb2.pyi", "_gen/google/rpc/status_pb2.py",
                 "_gen/google/rpc/error_details_pb2.py"):
        assert (package / stub).is_file(), stub
