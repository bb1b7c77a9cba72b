"""Client: the synchronous client of Bitrix24Service (thread-safe, like its gRPC channel)."""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union

import grpc

from bitrix24_service import _convert, _health
from bitrix24_service._convert import JSON, BatchCommands, BatchResult, Params
from bitrix24_service._pb import bitrix24_pb2 as pb
from bitrix24_service._pb import bitrix24_pb2_grpc
from bitrix24_service._stream import StreamState
from bitrix24_service.errors import error_from_rpc
from bitrix24_service.portal import PortalLike

__all__ = ["Client", "GetAllIterator", "Metadata", "ChannelOptions"]

Metadata = Union[Mapping[str, str], Sequence[Tuple[str, str]]]
ChannelOptions = Sequence[Tuple[str, Any]]


def metadata_tuple(metadata: Optional[Metadata]) -> Tuple[Tuple[str, str], ...]:
    if metadata is None:
        return ()
    pairs = metadata.items() if isinstance(metadata, Mapping) else metadata
    return tuple((str(k).lower(), v) for k, v in pairs)


def deadline(timeout: Optional[float], default: Optional[float]) -> Optional[float]:
    """Seconds for gRPC's timeout=: None takes the client's default; math.inf means none."""
    t = default if timeout is None else timeout
    if t is None or math.isinf(t):
        return None
    if t <= 0:
        raise ValueError(f"timeout must be positive seconds, got {t!r}")
    return float(t)


class GetAllIterator(Iterator[Dict[str, JSON]]):
    """The items of a GetAll stream, each a dict decoded from the gateway's JSON.

    ``cursor`` resumes the export: save it after processing each item and pass it to
    ``get_all(..., cursor=saved)`` to continue after a crash or a cancel; nothing is lost, and
    items of a partly processed message may come again. ``items_sent``, ``items_yielded`` and
    ``http_requests`` are progress counters. ``cancel()`` (or ``close()``, leaving a ``with``
    block, or dropping the iterator) ends the stream; iteration then stops.
    """

    def __init__(self, call: Any, method: str, cursor: Optional[str]) -> None:
        self._state = StreamState(method, cursor)
        self._call = call

    # The counters live in StreamState (shared with the async iterator).
    @property
    def cursor(self) -> str:
        return self._state.cursor

    @property
    def items_sent(self) -> int:
        return self._state.items_sent

    @property
    def items_yielded(self) -> int:
        return self._state.items_yielded

    @property
    def http_requests(self) -> int:
        return self._state.http_requests

    @property
    def method(self) -> str:
        return self._state.method

    def __iter__(self) -> "GetAllIterator":
        return self

    def __next__(self) -> Dict[str, JSON]:
        s = self._state
        while not s._has_item():
            if s._done:
                raise StopIteration
            try:
                msg = next(self._call)
            except StopIteration:
                s._done = True
                raise
            except grpc.RpcError as e:
                s._done = True
                if s._cancelled:
                    raise StopIteration from None
                raise error_from_rpc(e, s.method) from e
            s._accept(msg)
        return s._pop()  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Ends the stream (the gateway stops exporting); ``cursor`` stays valid for a resume."""
        s = self._state
        if not s._done:
            s._cancelled = True
            s._done = True
            s._items, s._pos = [], 0
            self._call.cancel()

    close = cancel

    def __enter__(self) -> "GetAllIterator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def __del__(self) -> None:
        try:
            self.cancel()
        except Exception:  # interpreter shutdown, a closed channel: nothing left to cancel
            pass

    def __repr__(self) -> str:
        return repr(self._state).replace("StreamState", "GetAllIterator")


class Client:
    """A client of one Bitrix24Service gateway.

    Args:
        target: the gateway's address, "host:port".
        timeout: default deadline of unary calls, seconds (None: no deadline). GetAll has
            no deadline unless given one, since exports can run long.
        credentials: grpc.ChannelCredentials (e.g. grpc.ssl_channel_credentials()) for TLS;
            None connects without TLS.
        metadata: gRPC metadata sent with every call, e.g. {"authorization": "Bearer ..."}.
        options: gRPC channel options, e.g. [("grpc.max_receive_message_length", 8 << 20)].

    Every ``portal`` argument is a str (an http(s) URL is a webhook URL, 32 hex digits a
    member_id, else the name of a webhook configured in the gateway), a ``Portal``, or a
    ``PortalRef``. Failed calls raise ``Bitrix24Error`` (``LimitError``,
    ``PortalNeedsReinstall``).
    """

    def __init__(
        self,
        target: str,
        timeout: Optional[float] = 60.0,
        credentials: Optional[grpc.ChannelCredentials] = None,
        metadata: Optional[Metadata] = None,
        options: Optional[ChannelOptions] = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        opts = list(options or [])
        if credentials is not None:
            self._channel = grpc.secure_channel(target, credentials, opts)
        else:
            self._channel = grpc.insecure_channel(target, opts)
        stub: Any = bitrix24_pb2_grpc.Bitrix24ServiceStub  # generated code is untyped
        self._stub = stub(self._channel)
        self._health_check = self._channel.unary_unary(
            _health.HEALTH_CHECK_METHOD,
            request_serializer=_health.HealthCheckRequest.SerializeToString,
            response_deserializer=_health.HealthCheckResponse.FromString,
        )
        self._metadata = metadata_tuple(metadata)

    @property
    def channel(self) -> grpc.Channel:
        return self._channel

    def _unary(self, rpc: Any, request: Any, timeout: Optional[float], method: Optional[str] = None) -> Any:
        try:
            return rpc(request, timeout=deadline(timeout, self.timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise error_from_rpc(e, method) from e

    def call(self, portal: PortalLike, method: str, params: Params = None, *, timeout: Optional[float] = None
             ) -> Dict[str, JSON]:
        """Calls one REST method; returns its envelope
        {"result": <JSON>, "total": int (list methods), "next": int (more pages), "time": {...}}."""
        resp = self._unary(self._stub.Call, _convert.call_request(portal, method, params), timeout, method)
        return _convert.call_result(resp)

    def batch(self, portal: PortalLike, commands: BatchCommands, *, halt: bool = False,
              timeout: Optional[float] = None) -> BatchResult:
        """Runs commands through the portal's ``batch`` (more than 50 are split transparently).

        ``commands`` is {key: {"method": m, "params": {...}}}, {key: (method, params)} or a list of
        {"key", "method", "params"}; params may reference earlier results as "$result[key][ID]".
        Returns per key, in request order, {"result", "total"?, "next"?, "time"?},
        {"error": {"code", "description"}}, or {"not_executed": True} (after a failure with halt).
        """
        resp = self._unary(self._stub.Batch, _convert.batch_request(portal, commands, halt), timeout, "batch")
        return _convert.batch_result(resp)

    def get_all(self, portal: PortalLike, method: str, params: Params = None, *, limit: int = 0,
                cursor: Optional[str] = None, max_parallel_ranges: int = 0,
                timeout: Optional[float] = None) -> GetAllIterator:
        """Streams every item of a list method (crm.deal.list, crm.item.list, tasks.task.list, ...).

        ``params`` are the method's own (filter, select, order, ...; never ``start``); ``limit``
        stops after that many items (0 = all); ``cursor`` resumes from GetAllIterator.cursor;
        ``max_parallel_ranges`` bounds the ID ranges exported at once (0 = the gateway decides,
        1 = one range in ascending ID order). ``timeout`` bounds the whole stream (default: none).
        """
        request = _convert.get_all_request(portal, method, params, limit, cursor, max_parallel_ranges)
        t = None if timeout is None else deadline(timeout, None)
        call = self._stub.GetAll(request, timeout=t, metadata=self._metadata)
        return GetAllIterator(call, method, cursor)

    def install(self, *, ui_fields: Optional[Mapping[str, Any]] = None,
                onappinstall_fields: Optional[Mapping[str, Any]] = None, client_id: str, client_secret: str,
                timeout: Optional[float] = None) -> Dict[str, str]:
        """Stores a portal from an app installation: ``ui_fields`` are the UI install POST
        (AUTH_ID, REFRESH_ID, member_id, DOMAIN, ...) merged with its query string, or
        ``onappinstall_fields`` the ONAPPINSTALL event's form fields. Returns
        {"member_id", "domain", "finish_html"} (finish_html: what the install page returns)."""
        request = _convert.install_request(ui_fields, onappinstall_fields, client_id, client_secret)
        return _convert.install_result(self._unary(self._stub.Install, request, timeout))

    def list_portals(self, *, timeout: Optional[float] = None) -> List[Dict[str, JSON]]:
        """The portals the gateway knows:
        [{"id", "domain", "kind": "OAUTH"|"WEBHOOK", "access_expires_at", "needs_reinstall"}]."""
        request = pb.ListPortalsRequest()
        return _convert.portals_result(self._unary(self._stub.ListPortals, request, timeout))

    def remove_portal(self, member_id: str, *, timeout: Optional[float] = None) -> bool:
        """Forgets an installed portal; False when no such portal was stored."""
        request = _convert.remove_portal_request(member_id)
        return bool(self._unary(self._stub.RemovePortal, request, timeout).removed)

    def health(self, service: str = "", *, timeout: Optional[float] = None) -> str:
        """grpc.health.v1 status of the gateway: "SERVING", "NOT_SERVING", ..."""
        request = _health.HealthCheckRequest(service=service)
        return _health.status_name(self._unary(self._health_check, request, timeout))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.target!r}, timeout={self.timeout!r})"
