"""AsyncClient: the asyncio client of Bitrix24Service (grpc.aio), with the methods of Client."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Type

import grpc
import grpc.aio

from bitrix24_service import _convert, _health
from bitrix24_service._convert import JSON, BatchCommands, BatchResult, Params
from bitrix24_service._pb import bitrix24_pb2 as pb
from bitrix24_service._pb import bitrix24_pb2_grpc
from bitrix24_service._stream import StreamState
from bitrix24_service.client import ChannelOptions, Metadata, deadline, metadata_tuple
from bitrix24_service.errors import error_from_rpc
from bitrix24_service.portal import PortalLike

__all__ = ["AsyncClient", "AsyncGetAllIterator"]


class AsyncGetAllIterator(AsyncIterator[Dict[str, JSON]]):
    """``async for`` over the items of a GetAll stream; ``cursor``, ``items_sent``,
    ``items_yielded``, ``http_requests`` and ``cancel()`` as in GetAllIterator. The RPC starts
    at the first ``__anext__``. ``aclose()`` or ``async with`` ends it too."""

    def __init__(self, stub: Any, request: pb.GetAllRequest, timeout: Optional[float],
                 metadata: Any, method: str, cursor: Optional[str]) -> None:
        self._state = StreamState(method, cursor)
        self._stub = stub
        self._request = request
        self._timeout = timeout
        self._metadata = metadata
        self._call: Any = None

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

    def __aiter__(self) -> "AsyncGetAllIterator":
        return self

    async def __anext__(self) -> Dict[str, JSON]:
        s = self._state
        while not s._has_item():
            if s._done:
                raise StopAsyncIteration
            if self._call is None:
                self._call = self._stub.GetAll(self._request, timeout=self._timeout, metadata=self._metadata)
            try:
                msg = await self._call.read()
            except grpc.RpcError as e:
                s._done = True
                if s._cancelled:
                    raise StopAsyncIteration from None
                raise error_from_rpc(e, s.method) from e
            except asyncio.CancelledError:
                if s._cancelled:  # cancel() was called while this read waited
                    raise StopAsyncIteration from None
                raise
            if msg is grpc.aio.EOF:
                s._done = True
                raise StopAsyncIteration
            s._accept(msg)
        return s._pop()  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Ends the stream; ``cursor`` stays valid for a resume."""
        s = self._state
        if not s._done:
            s._cancelled = True
            s._done = True
            s._items, s._pos = [], 0
            if self._call is not None:
                self._call.cancel()

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> "AsyncGetAllIterator":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

    def __del__(self) -> None:
        try:
            self.cancel()
        except Exception:  # the loop or the channel is already gone
            pass

    def __repr__(self) -> str:
        return repr(self._state).replace("StreamState", "AsyncGetAllIterator")


class AsyncClient:
    """The asyncio twin of ``Client`` (same arguments and methods; the methods are coroutines,
    ``get_all`` returns an async iterator). Create it inside a running event loop."""

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
            self._channel = grpc.aio.secure_channel(target, credentials, opts)
        else:
            self._channel = grpc.aio.insecure_channel(target, opts)
        stub: Any = bitrix24_pb2_grpc.Bitrix24ServiceStub  # generated code is untyped
        self._stub = stub(self._channel)
        self._health_check = self._channel.unary_unary(
            _health.HEALTH_CHECK_METHOD,
            request_serializer=_health.HealthCheckRequest.SerializeToString,
            response_deserializer=_health.HealthCheckResponse.FromString,
        )
        self._metadata = metadata_tuple(metadata)

    @property
    def channel(self) -> grpc.aio.Channel:
        return self._channel

    async def _unary(self, rpc: Any, request: Any, timeout: Optional[float], method: Optional[str] = None) -> Any:
        try:
            return await rpc(request, timeout=deadline(timeout, self.timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise error_from_rpc(e, method) from e

    async def call(self, portal: PortalLike, method: str, params: Params = None, *,
                   timeout: Optional[float] = None) -> Dict[str, JSON]:
        """See Client.call."""
        resp = await self._unary(self._stub.Call, _convert.call_request(portal, method, params), timeout, method)
        return _convert.call_result(resp)

    async def batch(self, portal: PortalLike, commands: BatchCommands, *, halt: bool = False,
                    timeout: Optional[float] = None) -> BatchResult:
        """See Client.batch."""
        request = _convert.batch_request(portal, commands, halt)
        return _convert.batch_result(await self._unary(self._stub.Batch, request, timeout, "batch"))

    def get_all(self, portal: PortalLike, method: str, params: Params = None, *, limit: int = 0,
                cursor: Optional[str] = None, max_parallel_ranges: int = 0,
                timeout: Optional[float] = None) -> AsyncGetAllIterator:
        """See Client.get_all; use ``async for item in client.get_all(...)``."""
        request = _convert.get_all_request(portal, method, params, limit, cursor, max_parallel_ranges)
        t = None if timeout is None else deadline(timeout, None)
        return AsyncGetAllIterator(self._stub, request, t, self._metadata, method, cursor)

    async def install(self, *, ui_fields: Optional[Mapping[str, Any]] = None,
                      onappinstall_fields: Optional[Mapping[str, Any]] = None, client_id: str,
                      client_secret: str, timeout: Optional[float] = None) -> Dict[str, str]:
        """See Client.install."""
        request = _convert.install_request(ui_fields, onappinstall_fields, client_id, client_secret)
        return _convert.install_result(await self._unary(self._stub.Install, request, timeout))

    async def list_portals(self, *, timeout: Optional[float] = None) -> List[Dict[str, JSON]]:
        """See Client.list_portals."""
        return _convert.portals_result(await self._unary(self._stub.ListPortals, pb.ListPortalsRequest(), timeout))

    async def remove_portal(self, member_id: str, *, timeout: Optional[float] = None) -> bool:
        """See Client.remove_portal."""
        request = _convert.remove_portal_request(member_id)
        return bool((await self._unary(self._stub.RemovePortal, request, timeout)).removed)

    async def health(self, service: str = "", *, timeout: Optional[float] = None) -> str:
        """See Client.health."""
        request = _health.HealthCheckRequest(service=service)
        return _health.status_name(await self._unary(self._health_check, request, timeout))

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient({self.target!r}, timeout={self.timeout!r})"
