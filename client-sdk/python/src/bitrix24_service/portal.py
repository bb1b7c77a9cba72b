"""Which portal a request is for: a webhook URL, an installed app's member_id, or the name of a
webhook configured in the gateway (``webhooks.<name>``)."""

from __future__ import annotations

import string
from typing import Union

from bitrix24_service._pb import bitrix24_pb2 as pb

__all__ = ["Portal", "PortalLike", "portal_ref"]

_HEX = frozenset(string.hexdigits)


class Portal:
    """An explicit portal reference. A plain str is parsed like the C++ client does
    (``Portal.parse``); use these constructors when a name could be mistaken for a URL or a
    member_id."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: str) -> None:
        if kind not in ("webhook_url", "member_id", "name"):
            raise ValueError(f"portal kind must be webhook_url, member_id or name, got {kind!r}")
        if not isinstance(value, str) or not value:
            raise ValueError(f"the portal's {kind} must be a non-empty str, got {value!r}")
        self.kind = kind
        self.value = value

    @classmethod
    def webhook(cls, url: str) -> "Portal":
        """An incoming-webhook URL, e.g. "https://example.bitrix24.com/rest/1/abc123/"."""
        return cls("webhook_url", url)

    @classmethod
    def member(cls, member_id: str) -> "Portal":
        """The member_id of a portal where the app was installed (OAuth)."""
        return cls("member_id", member_id)

    @classmethod
    def named(cls, name: str) -> "Portal":
        """The name of a webhook in the gateway configuration (webhooks.<name>)."""
        return cls("name", name)

    @classmethod
    def parse(cls, text: str) -> "Portal":
        """An http(s) URL is a webhook URL, exactly 32 hex digits a member_id, anything else
        the name of a configured webhook."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"a portal must be a non-empty str, got {text!r}")
        if text.startswith("http://") or text.startswith("https://"):
            return cls.webhook(text)
        if len(text) == 32 and all(c in _HEX for c in text):
            return cls.member(text)
        return cls.named(text)

    def to_proto(self) -> pb.PortalRef:
        return pb.PortalRef(**{self.kind: self.value})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Portal) and (self.kind, self.value) == (other.kind, other.value)

    def __hash__(self) -> int:
        return hash((self.kind, self.value))

    def __repr__(self) -> str:
        ctor = {"webhook_url": "webhook", "member_id": "member", "name": "named"}[self.kind]
        shown = self.value
        if self.kind == "webhook_url":  # the webhook code is a secret: keep it out of logs
            parts = shown.split("/")
            if len(parts) > 5 and parts[3] == "rest":
                parts[5] = "***"
                shown = "/".join(parts)
        return f"Portal.{ctor}({shown!r})"


PortalLike = Union[str, Portal, pb.PortalRef]


def portal_ref(portal: PortalLike) -> pb.PortalRef:
    if isinstance(portal, Portal):
        return portal.to_proto()
    if isinstance(portal, pb.PortalRef):
        return portal
    if isinstance(portal, str):
        return Portal.parse(portal).to_proto()
    raise TypeError(f"portal must be a str, a Portal or a PortalRef, got {type(portal).__name__}")
