"""State of a GetAll stream shared by the sync and async iterators: items, counters, cursor."""

from __future__ import annotations

from typing import Any, List, Optional, Union

from google.protobuf import struct_pb2

from bitrix24_service._convert import decode_item, items_of
from bitrix24_service._pb import bitrix24_pb2 as pb


class StreamState:
    """Delivers the items of GetAllResponse messages one by one and keeps the cursor honest.

    ``cursor`` always covers every item handed out so far and nothing beyond: a message's
    cursor (the position after its items) is published together with the message's LAST item,
    never earlier. So a consumer that saves ``cursor`` after processing each item, and resumes
    with it, loses nothing; items of a partly processed message come again (at least once).
    """

    def __init__(self, method: str, cursor: Optional[str]) -> None:
        self.method = method
        #: Pass to get_all(..., cursor=...) to resume; "" = from the start.
        self.cursor: str = cursor or ""
        #: Items the gateway has sent in this stream (GetAllResponse.items_sent; may run ahead
        #: of the items handed out, which are counted in items_yielded).
        self.items_sent: int = 0
        #: HTTP requests the gateway has sent to the portal for this stream so far.
        self.http_requests: int = 0
        #: Items handed out by this iterator.
        self.items_yielded: int = 0
        self._items: List[Union[bytes, struct_pb2.Struct]] = []
        self._pos = 0
        self._message_cursor = ""
        self._done = False
        self._cancelled = False

    def _has_item(self) -> bool:
        return self._pos < len(self._items)

    def _accept(self, msg: pb.GetAllResponse) -> None:
        self._items = items_of(msg)
        self._pos = 0
        self._message_cursor = msg.cursor
        self.items_sent = msg.items_sent
        self.http_requests = msg.http_requests
        if not self._items and msg.cursor:
            self.cursor = msg.cursor

    def _pop(self) -> Any:
        item = decode_item(self._items[self._pos])
        self._pos += 1
        if self._pos == len(self._items):
            # The last item of the message: from now on the message's cursor covers it all.
            if self._message_cursor:
                self.cursor = self._message_cursor
            self._items, self._pos = [], 0
        self.items_yielded += 1
        return item

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.method} yielded={self.items_yielded} "
            f"sent={self.items_sent} http_requests={self.http_requests} done={self._done}>"
        )
