"""Exceptions of the client, mapped from the gateway's google.rpc.Status / ErrorInfo.

Every failed RPC carries a ``grpc-status-details-bin`` trailer: a google.rpc.Status whose
details hold a google.rpc.ErrorInfo (see the header of proto/bitrix24/v1/bitrix24.proto and
docs/errors.md). Branch on ``Bitrix24Error.code`` (the ErrorInfo reason) and on the subclasses:

- ``LimitError``: the portal's limits or the caller's deadline stopped the call; retry later
  with a longer deadline (for a write, only when ``may_have_executed`` is False).
- ``PortalNeedsReinstall``: the portal rejected the app's refresh token; the app must be
  installed again on that portal (nothing the caller retries will help).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple, Type

import grpc
from google.protobuf.message import DecodeError

from bitrix24_service._pb import error_details_pb2, status_pb2

__all__ = [
    "Bitrix24Error",
    "LimitError",
    "PortalNeedsReinstall",
    "Classification",
    "classify",
    "LIMIT_REASONS",
    "error_from_rpc",
]

STATUS_DETAILS_KEY = "grpc-status-details-bin"

#: ErrorInfo reasons that mean "a rate or time limit stopped the call".
LIMIT_REASONS = frozenset({"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "DEADLINE_BEFORE_SEND"})


class Bitrix24Error(Exception):
    """A failed call to the gateway.

    Attributes:
        code: the Bitrix24 error code or the gateway's reason (ErrorInfo.reason), e.g.
            "ACCESS_DENIED", "expired_token", "HOST_NOT_ALLOWED"; "" when the portal sent an
            empty code or the status has no ErrorInfo.
        description: the portal's error_description, else the status message.
        may_have_executed: True when a write was sent and may have run (do not blindly retry).
        grpc_code: the gRPC status code.
        domain: "bitrix24" (the portal's error), "bitrix24service" (the gateway's), or "".
        http_status: the portal's HTTP status, when it answered.
        method: the REST method (ErrorInfo metadata, else the method the client called).
        metadata: all ErrorInfo metadata.
        message: the gRPC status message.
    """

    def __init__(
        self,
        message: str,
        *,
        grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        code: str = "",
        domain: str = "",
        metadata: Optional[Mapping[str, str]] = None,
        method: Optional[str] = None,
    ) -> None:
        self.message = message
        self.grpc_code = grpc_code
        self.code = code
        self.domain = domain
        self.metadata: Dict[str, str] = dict(metadata or {})
        self.description = self.metadata.get("error_description") or message
        self.may_have_executed = self.metadata.get("may_have_executed") == "true"
        self.needs_reinstall = self.metadata.get("needs_reinstall") == "true"
        status = self.metadata.get("http_status", "")
        self.http_status: Optional[int] = int(status) if status.isdigit() else None
        self.method: Optional[str] = self.metadata.get("method") or method
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"{self.grpc_code.name} {self.code}" if self.code else self.grpc_code.name
        return f"{prefix}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, grpc_code={self.grpc_code.name}, "
            f"description={self.description!r}, may_have_executed={self.may_have_executed})"
        )

    def __reduce__(self) -> Tuple[Any, ...]:  # keeps pickling (multiprocessing) working
        return (
            _rebuild,
            (type(self), self.message, self.grpc_code, self.code, self.domain, self.metadata, self.method),
        )


class LimitError(Bitrix24Error):
    """A limit stopped the call: the portal's request rate (QUERY_LIMIT_EXCEEDED), a method's
    operating-time budget (OPERATION_TIME_LIMIT), or the caller's deadline (DEADLINE_BEFORE_SEND,
    or any DEADLINE_EXCEEDED). Retry later with a longer deadline; a write that
    ``may_have_executed`` must be checked first."""


class PortalNeedsReinstall(Bitrix24Error):
    """The portal rejected the app's refresh token (metadata needs_reinstall="true"): the app
    must be installed on the portal again (Install with fresh tokens) before it can be called."""


def _rebuild(cls: Type[Bitrix24Error], message: str, grpc_code: grpc.StatusCode, code: str, domain: str,
             metadata: Dict[str, str], method: Optional[str]) -> Bitrix24Error:
    return cls(message, grpc_code=grpc_code, code=code, domain=domain, metadata=metadata, method=method)


class Classification(NamedTuple):
    cls: Type[Bitrix24Error]
    code: str


def classify(
    grpc_code: grpc.StatusCode, reason: Optional[str], domain: str, metadata: Mapping[str, str]
) -> Classification:
    """The one place that decides which exception a status becomes, and its public code.

    ``reason`` is ErrorInfo.reason, or None when the status carries no ErrorInfo.
    """
    if reason is None or (domain == "bitrix24" and reason == "UNSPECIFIED"):
        code = ""  # no ErrorInfo, or the portal sent an empty code (ErrorInfo.reason can't be empty)
    else:
        code = reason
    if metadata.get("needs_reinstall") == "true":
        return Classification(PortalNeedsReinstall, code)
    if code in LIMIT_REASONS or grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Classification(LimitError, code)
    return Classification(Bitrix24Error, code)


def _error_info(trailing_metadata: Any) -> Optional[error_details_pb2.ErrorInfo]:
    for key, value in trailing_metadata or ():
        if key != STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value if isinstance(value, bytes) else str(value).encode("latin-1"))
        except DecodeError:
            return None
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return info
        return None
    return None


def error_from_rpc(error: grpc.RpcError, method: Optional[str] = None) -> Bitrix24Error:
    """The Bitrix24Error (or subclass) for a failed RPC (sync grpc.RpcError or grpc.aio.AioRpcError)."""
    grpc_code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(error)
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    info = _error_info(trailing)
    metadata: Dict[str, str] = dict(info.metadata) if info is not None else {}
    domain = info.domain if info is not None else ""
    cls, code = classify(grpc_code, info.reason if info is not None else None, domain, metadata)
    return cls(message, grpc_code=grpc_code, code=code, domain=domain, metadata=metadata, method=method)
