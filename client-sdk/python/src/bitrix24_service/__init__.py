"""Python client of Bitrix24Service, a gRPC gateway in front of Bitrix24 portals.

    from bitrix24_service import Client
    with Client("127.0.0.1:50051") as client:
        deal = client.call("sandbox", "crm.deal.get", {"id": 42})["result"]
        for item in client.get_all("sandbox", "crm.deal.list", {"select": ["ID", "TITLE"]}):
            ...

``AsyncClient`` has the same methods on grpc.aio. Errors are ``Bitrix24Error`` and its
subclasses ``LimitError`` and ``PortalNeedsReinstall``.
"""

from bitrix24_service._convert import BatchResult
from bitrix24_service.aio import AsyncClient, AsyncGetAllIterator
from bitrix24_service.client import Client, GetAllIterator
from bitrix24_service.errors import Bitrix24Error, LimitError, PortalNeedsReinstall
from bitrix24_service.portal import Portal

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncGetAllIterator",
    "BatchResult",
    "Bitrix24Error",
    "Client",
    "GetAllIterator",
    "LimitError",
    "Portal",
    "PortalNeedsReinstall",
    "__version__",
]
