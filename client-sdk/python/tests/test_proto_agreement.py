"""Fails when proto/bitrix24/v1/bitrix24.proto and the package disagree: a new RPC without a
wrapper, or a new request field that no wrapper can set."""

from __future__ import annotations

import inspect
import re
from typing import Dict, Tuple

import pytest

import bitrix24_service
from bitrix24_service import AsyncClient, Client
from bitrix24_service._gen.bitrix24.v1 import bitrix24_pb2

SERVICE = bitrix24_pb2.DESCRIPTOR.services_by_name["Bitrix24Service"]

# Request fields a wrapper sets under another name or by itself (None: fixed by the wrapper).
RENAMED: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "GetAll": {"format": ()},  # always FORMAT_JSON: exact integers, fastest
    "Install": {"ui": ("ui_fields",), "onappinstall": ("onappinstall_fields",),
                "app": ("client_id", "client_secret")},
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_snake_names() -> None:
    assert [snake(n) for n in ("Call", "GetAll", "ListPortals", "RemovePortal")] == [
        "call", "get_all", "list_portals", "remove_portal"]


def test_the_service_is_the_one_the_package_wraps() -> None:
    assert SERVICE.full_name == "bitrix24.v1.Bitrix24Service"
    assert len(SERVICE.methods) >= 6


@pytest.mark.parametrize("cls", [Client, AsyncClient])
@pytest.mark.parametrize("rpc", [m.name for m in SERVICE.methods])
def test_every_rpc_has_a_wrapper(cls: type, rpc: str) -> None:
    method = SERVICE.methods_by_name[rpc]
    wrapper = getattr(cls, snake(rpc), None)
    assert callable(wrapper), f"{cls.__name__} has no {snake(rpc)}() for rpc {rpc}"
    if cls is AsyncClient and not method.server_streaming:
        assert inspect.iscoroutinefunction(wrapper), f"AsyncClient.{snake(rpc)} must be async"
    params = inspect.signature(wrapper).parameters
    for field in method.input_type.fields:
        for name in RENAMED.get(rpc, {}).get(field.name, (field.name,)):
            assert name in params, (f"{method.input_type.name}.{field.name} cannot be set through "
                                    f"{cls.__name__}.{snake(rpc)}{inspect.signature(wrapper)}")


def test_streaming_rpcs_return_iterators() -> None:
    for method in SERVICE.methods:
        if method.server_streaming:
            hints = inspect.signature(getattr(Client, snake(method.name))).return_annotation
            assert "Iterator" in str(hints), f"Client.{snake(method.name)} should return an iterator"


def test_the_public_api_is_exported() -> None:
    for name in ("Client", "AsyncClient", "Bitrix24Error", "LimitError", "PortalNeedsReinstall", "Portal"):
        assert name in bitrix24_service.__all__ and hasattr(bitrix24_service, name)
