"""The error classification table, and decoding grpc-status-details-bin (no stack needed)."""

from __future__ import annotations

import pickle
from typing import Any, Dict, Optional, Tuple

import grpc
import pytest
from google.protobuf import any_pb2

from bitrix24_service import Bitrix24Error, LimitError, PortalNeedsReinstall
from bitrix24_service._gen.google.rpc import error_details_pb2, status_pb2
from bitrix24_service.errors import classify, error_from_rpc

S = grpc.StatusCode
REINSTALL = {"needs_reinstall": "true"}

# (gRPC code, ErrorInfo.reason or None for "no ErrorInfo", domain, metadata) -> (class, code)
TABLE = [
    (S.PERMISSION_DENIED, "ACCESS_DENIED", "bitrix24", {}, Bitrix24Error, "ACCESS_DENIED"),
    (S.NOT_FOUND, "UNSPECIFIED", "bitrix24", {}, Bitrix24Error, ""),  # the portal sent an empty code
    (S.INTERNAL, "UNSPECIFIED", "bitrix24service", {}, Bitrix24Error, "UNSPECIFIED"),  # only bitrix24's is empty
    (S.UNKNOWN, None, "", {}, Bitrix24Error, ""),  # no ErrorInfo at all
    (S.UNAVAILABLE, None, "", {}, Bitrix24Error, ""),
    (S.UNAVAILABLE, "UPSTREAM_UNREACHABLE", "bitrix24service", {"may_have_executed": "true"}, Bitrix24Error,
     "UPSTREAM_UNREACHABLE"),
    (S.RESOURCE_EXHAUSTED, "QUERY_LIMIT_EXCEEDED", "bitrix24", {}, LimitError, "QUERY_LIMIT_EXCEEDED"),
    (S.RESOURCE_EXHAUSTED, "OPERATION_TIME_LIMIT", "bitrix24service", {}, LimitError, "OPERATION_TIME_LIMIT"),
    (S.DEADLINE_EXCEEDED, "DEADLINE_BEFORE_SEND", "bitrix24service", {}, LimitError, "DEADLINE_BEFORE_SEND"),
    (S.UNAVAILABLE, "DEADLINE_BEFORE_SEND", "bitrix24service", {}, LimitError, "DEADLINE_BEFORE_SEND"),
    (S.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT", "bitrix24service", {"may_have_executed": "true"}, LimitError,
     "UPSTREAM_TIMEOUT"),
    (S.DEADLINE_EXCEEDED, None, "", {}, LimitError, ""),  # the client's own deadline
    (S.RESOURCE_EXHAUSTED, "RESULT_TOO_LARGE", "bitrix24service", {}, Bitrix24Error, "RESULT_TOO_LARGE"),
    (S.FAILED_PRECONDITION, "invalid_grant", "bitrix24", REINSTALL, PortalNeedsReinstall, "invalid_grant"),
    (S.FAILED_PRECONDITION, "UNSPECIFIED", "bitrix24", REINSTALL, PortalNeedsReinstall, ""),
    # needs_reinstall wins over a limit: retrying cannot help.
    (S.DEADLINE_EXCEEDED, "QUERY_LIMIT_EXCEEDED", "bitrix24", REINSTALL, PortalNeedsReinstall, "QUERY_LIMIT_EXCEEDED"),
    (S.FAILED_PRECONDITION, "invalid_grant", "bitrix24", {"needs_reinstall": "false"}, Bitrix24Error, "invalid_grant"),
    (S.PERMISSION_DENIED, "query_limit_exceeded", "bitrix24", {}, Bitrix24Error, "query_limit_exceeded"),  # exact
]


@pytest.mark.parametrize("grpc_code,reason,domain,metadata,cls,code", TABLE)
def test_classification_table(grpc_code: grpc.StatusCode, reason: Optional[str], domain: str,
                              metadata: Dict[str, str], cls: type, code: str) -> None:
    assert classify(grpc_code, reason, domain, metadata) == (cls, code)


def test_subclasses_are_bitrix24_errors() -> None:
    assert issubclass(LimitError, Bitrix24Error) and issubclass(PortalNeedsReinstall, Bitrix24Error)
    assert issubclass(Bitrix24Error, Exception)


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """What grpc raises: an RpcError that is also a Call."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Tuple[Tuple[str, Any], ...]) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Tuple[Tuple[str, Any], ...]:
        return self._trailing

    def initial_metadata(self) -> Tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def status_trailer(code: grpc.StatusCode, message: str, reason: str, domain: str,
                   metadata: Dict[str, str], extra_first: bool = False) -> Tuple[Tuple[str, Any], ...]:
    status = status_pb2.Status(code=code.value[0], message=message)
    if extra_first:  # another detail type before the ErrorInfo must be skipped
        other = any_pb2.Any()
        other.Pack(status_pb2.Status(code=1))
        status.details.append(other)
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))
    status.details.append(info)
    return (("x-other", "1"), ("grpc-status-details-bin", status.SerializeToString()))


def test_error_from_rpc_decodes_the_status_details() -> None:
    message = "Bitrix24 ACCESS_DENIED from crm.deal.delete: Access denied!"
    md = {"error_description": "Access denied!", "http_status": "403", "method": "crm.deal.delete"}
    err = error_from_rpc(FakeRpcError(S.PERMISSION_DENIED, message,
                                      status_trailer(S.PERMISSION_DENIED, message, "ACCESS_DENIED", "bitrix24", md,
                                                     extra_first=True)))
    assert type(err) is Bitrix24Error
    assert (err.code, err.domain, err.description, err.http_status, err.method) == (
        "ACCESS_DENIED", "bitrix24", "Access denied!", 403, "crm.deal.delete")
    assert err.may_have_executed is False and err.metadata == md
    assert str(err) == "PERMISSION_DENIED ACCESS_DENIED: Bitrix24 ACCESS_DENIED from crm.deal.delete: Access denied!"


def test_error_from_rpc_without_details_uses_the_status_message() -> None:
    err = error_from_rpc(FakeRpcError(S.UNAVAILABLE, "failed to connect to all addresses", ()), "crm.deal.get")
    assert (err.code, err.domain, err.description, err.http_status, err.method) == (
        "", "", "failed to connect to all addresses", None, "crm.deal.get")
    assert str(err) == "UNAVAILABLE: failed to connect to all addresses"


def test_error_from_rpc_with_garbage_details() -> None:
    err = error_from_rpc(FakeRpcError(S.INTERNAL, "boom", (("grpc-status-details-bin", b"\xff\xff\xff"),)))
    assert (type(err), err.code, err.description) == (Bitrix24Error, "", "boom")


def test_error_from_rpc_picks_the_subclass_and_flags() -> None:
    md = {"may_have_executed": "true", "method": "crm.deal.add"}
    err = error_from_rpc(FakeRpcError(S.DEADLINE_EXCEEDED, "timed out",
                                      status_trailer(S.DEADLINE_EXCEEDED, "timed out", "UPSTREAM_TIMEOUT",
                                                     "bitrix24service", md)))
    assert isinstance(err, LimitError) and err.may_have_executed is True and err.description == "timed out"
    reinstall = error_from_rpc(FakeRpcError(S.FAILED_PRECONDITION, "portal x must be reinstalled",
                                            status_trailer(S.FAILED_PRECONDITION, "", "invalid_grant", "bitrix24",
                                                           {"needs_reinstall": "true"})))
    assert isinstance(reinstall, PortalNeedsReinstall) and reinstall.needs_reinstall


def test_errors_pickle() -> None:
    err = LimitError("x", grpc_code=S.DEADLINE_EXCEEDED, code="DEADLINE_BEFORE_SEND", domain="bitrix24service",
                     metadata={"method": "profile"})
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is LimitError and str(copy) == str(err) and copy.method == "profile"
