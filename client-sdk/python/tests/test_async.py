"""AsyncClient against the real service (asyncio.run: no pytest plugin needed)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Awaitable, Callable, List

import grpc
import pytest

from bitrix24_service import AsyncClient, Bitrix24Error, LimitError

from conftest import DEALS, Stack


def run(stack: Stack, body: Callable[[AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with AsyncClient(stack.target, timeout=30) as client:
            return await asyncio.wait_for(body(client), 60)

    return asyncio.run(main())


def test_async_call_batch_and_health(stack: Stack) -> None:
    async def body(client: AsyncClient) -> None:
        deal, results, health = await asyncio.gather(
            client.call(stack.portal, "crm.deal.get", {"id": 42}),
            client.batch(stack.portal, {"a": ("crm.deal.get", {"id": 42}),
                                        "b": ("crm.deal.get", {"id": "$result[a][CONTACT_ID]"})}),
            client.health())
        assert deal["result"]["ID"] == "42"
        assert results["b"]["result"]["ID"] == deal["result"]["CONTACT_ID"]
        assert health == "SERVING"
        portals = await client.list_portals()
        assert stack.portal in {p["id"] for p in portals}
        assert await client.remove_portal("f" * 32) is False

    run(stack, body)


def test_async_errors(stack: Stack) -> None:
    async def body(client: AsyncClient) -> None:
        with pytest.raises(Bitrix24Error) as e:
            await client.call(stack.portal, "crm.deal.delete", {"id": 42})
        assert (e.value.code, e.value.grpc_code, e.value.may_have_executed) == (
            "ACCESS_DENIED", grpc.StatusCode.PERMISSION_DENIED, False)
        with pytest.raises(Bitrix24Error) as e:
            await client.call(stack.portal, "crm.deal.get", {"id": 10**6})
        assert e.value.code == "" and e.value.description == "Not found"
        with pytest.raises(LimitError) as limit:
            await client.call(stack.portal, "crm.deal.get", {"id": 1}, timeout=0.001)
        assert limit.value.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED
        it = client.get_all(stack.portal, "crm.deal.list", None, cursor="garbage")
        with pytest.raises(Bitrix24Error) as e:
            await it.__anext__()
        assert e.value.code == "INVALID_CURSOR"

    run(stack, body)


def test_async_get_all_every_deal_and_a_resume(stack: Stack, seeded_ids: frozenset[str]) -> None:
    async def body(client: AsyncClient) -> None:
        it = client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]})
        ids = [d["ID"] async for d in it]
        assert len(ids) == DEALS and set(ids) == seeded_ids
        assert it.items_sent == DEALS and it.http_requests > 0

        first: List[str] = []
        saved, covered = "", 0
        it = client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]})
        async for deal in it:
            first.append(deal["ID"])
            if it.cursor != saved:
                saved, covered = it.cursor, len(first)
            if len(first) == 3000:
                break
        it.cancel()
        assert [d async for d in it] == []
        assert saved
        rest = [d["ID"] async for d in client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]}, cursor=saved)]
        assert len(rest) == len(set(rest))
        assert set(first) | set(rest) == seeded_ids
        assert set(rest) == seeded_ids - set(first[:covered])

    run(stack, body)


def test_async_iterator_dropped_or_closed_cancels_the_stream(stack: Stack) -> None:
    async def body(client: AsyncClient) -> None:
        it = client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]})
        await it.__anext__()
        call = it._call
        del it
        gc.collect()
        assert call.cancelled()
        async with client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]}) as it2:
            assert (await it2.__anext__())["ID"]
        assert it2._call.cancelled() and [d async for d in it2] == []

    run(stack, body)
