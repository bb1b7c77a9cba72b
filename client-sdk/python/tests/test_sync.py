"""Client against the real service and emulator."""

from __future__ import annotations

import gc
import time
from collections import Counter
from typing import Any, Dict, List, Tuple

import grpc
import pytest

from bitrix24_service import Bitrix24Error, Client, LimitError, Portal, PortalNeedsReinstall

from conftest import CLIENT_ID, CLIENT_SECRET, DEALS, Stack


def test_call_returns_the_envelope(client: Client, stack: Stack) -> None:
    out = client.call(stack.portal, "crm.deal.get", {"id": 42})
    assert out["result"]["ID"] == "42"
    assert out["result"]["TITLE"] == "Deal 42"
    assert "total" not in out and "next" not in out
    assert set(out["time"]) == {"start", "finish", "duration", "processing", "operating", "operating_reset_at"}
    assert out["time"]["start"] > 1.6e9


def test_call_of_a_list_method_has_total_and_next(client: Client, stack: Stack) -> None:
    out = client.call(stack.portal, "crm.deal.list", {"select": ["ID"], "order": {"ID": "ASC"}})
    assert out["total"] == DEALS
    assert out["next"] == 50
    assert [d["ID"] for d in out["result"]] == [str(i) for i in range(1, 51)]


def test_the_portal_can_be_named_explicitly_or_by_webhook_url(client: Client, stack: Stack) -> None:
    assert client.call(Portal.named(stack.portal), "crm.deal.get", {"id": 7})["result"]["ID"] == "7"
    # A str starting with http:// is a webhook URL, sent to the gateway as such.
    assert client.call(stack.emulator["webhook_url"], "crm.deal.get", {"id": 8})["result"]["ID"] == "8"


def test_batch_with_a_result_reference(client: Client, stack: Stack) -> None:
    results = client.batch(stack.portal, {
        "a": ("crm.deal.get", {"id": 42}),
        "b": {"method": "crm.deal.list",
              "params": {"filter": {">ID": "$result[a][ID]"}, "order": {"ID": "ASC"}, "select": ["ID"]}},
    })
    assert list(results) == ["a", "b"]
    assert results["a"]["result"]["ID"] == "42"
    assert [d["ID"] for d in results["b"]["result"]][:3] == ["43", "44", "45"]
    assert results["b"]["total"] == DEALS - 42
    assert results.http_requests == 1


def test_batch_reports_errors_per_command_and_halt_stops(client: Client, stack: Stack) -> None:
    commands = [
        {"key": "ok", "method": "crm.deal.get", "params": {"id": 1}},
        {"key": "denied", "method": "crm.deal.delete", "params": {"id": 1}},
        {"key": "later", "method": "crm.deal.get", "params": {"id": 2}},
    ]
    results = client.batch(stack.portal, commands)
    assert list(results) == ["ok", "denied", "later"]
    assert results["denied"] == {"error": {"code": "ACCESS_DENIED", "description": "Access denied!"}}
    assert results["later"]["result"]["ID"] == "2"
    halted = client.batch(stack.portal, commands, halt=True)
    assert halted["ok"]["result"]["ID"] == "1"
    assert "error" in halted["denied"]
    assert halted["later"] == {"not_executed": True}


def test_batch_of_more_than_50_commands_is_split(client: Client, stack: Stack) -> None:
    results = client.batch(stack.portal, {f"d{i}": ("crm.deal.get", {"id": i}) for i in range(1, 121)})
    assert [r["result"]["ID"] for r in results.values()] == [str(i) for i in range(1, 121)]
    assert results.http_requests == 3


def test_get_all_streams_every_deal_exactly_once(client: Client, stack: Stack, seeded_ids: frozenset[str]) -> None:
    it = client.get_all(stack.portal, "crm.deal.list", {"select": ["ID", "TITLE"]})
    ids = [deal["ID"] for deal in it]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} duplicates, e.g. {duplicates[:5]}"
    assert set(ids) == seeded_ids
    assert len(ids) == DEALS
    assert it.items_sent == DEALS and it.items_yielded == DEALS
    assert 0 < it.http_requests < DEALS // 50, it.http_requests  # batched: far fewer than one per page
    assert it.cursor


def test_get_all_keeps_integers_exact_and_honours_limit_and_order(client: Client, stack: Stack) -> None:
    items = list(client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]}, limit=120, max_parallel_ranges=1))
    assert [d["ID"] for d in items] == [str(i) for i in range(1, 121)]


def consume_and_cancel(it: Any, n: int) -> Tuple[List[str], str, int]:
    """Takes n items, saving it.cursor after each (as a consumer should), then cancels.
    Returns (items, saved cursor, number of items the saved cursor covers)."""
    items: List[str] = []
    saved, covered = it.cursor, 0
    for deal in it:
        items.append(deal["ID"])  # "process" the item, then save the position
        if it.cursor != saved:
            saved, covered = it.cursor, len(items)
        if len(items) == n:
            break
    it.cancel()
    return items, saved, covered


def test_get_all_resumes_from_the_cursor_of_a_cancelled_stream(
        client: Client, stack: Stack, seeded_ids: frozenset[str]) -> None:
    params = {"select": ["ID"]}
    first, cursor, covered = consume_and_cancel(client.get_all(stack.portal, "crm.deal.list", params), 3000)
    assert len(first) == 3000
    assert cursor and 0 < covered <= 3000
    assert list(client.get_all(stack.portal, "crm.deal.list", params, cursor="")) != []  # sanity: "" = start

    resumed_it = client.get_all(stack.portal, "crm.deal.list", params, cursor=cursor)
    resumed = [d["ID"] for d in resumed_it]
    assert len(resumed) == len(set(resumed)), "a resumed stream has no duplicates of its own"
    assert set(first) | set(resumed) == seeded_ids, f"missing: {sorted(seeded_ids - set(first) - set(resumed))[:10]}"
    # The cursor covered exactly the first `covered` items: the resume sends everything else,
    # including the items of the partly consumed message (at least once), and nothing before.
    assert set(resumed) == seeded_ids - set(first[:covered])
    assert resumed_it.items_sent == DEALS - covered


def test_a_cancelled_stream_stops_iterating(client: Client, stack: Stack) -> None:
    with client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]}) as it:
        next(it)
    assert list(it) == []  # leaving the with block cancelled it: no error, no more items


def test_dropping_an_iterator_cancels_its_stream(client: Client, stack: Stack) -> None:
    it = client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]})
    next(it)
    call = it._call  # the gRPC stream underneath
    del it
    gc.collect()
    assert call.code() == grpc.StatusCode.CANCELLED


def test_get_all_errors_are_raised_from_the_iterator(client: Client, stack: Stack) -> None:
    it = client.get_all(stack.portal, "crm.deal.list", {"select": ["ID"]}, cursor="not-a-cursor")
    with pytest.raises(Bitrix24Error) as e:
        next(it)
    assert e.value.code == "INVALID_CURSOR"
    assert e.value.grpc_code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.domain == "bitrix24service"
    assert e.value.method == "crm.deal.list"


def test_a_denied_method_raises_access_denied(client: Client, stack: Stack) -> None:
    with pytest.raises(Bitrix24Error) as e:
        client.call(stack.portal, "crm.deal.delete", {"id": 42})
    err = e.value
    assert type(err) is Bitrix24Error
    assert err.code == "ACCESS_DENIED"
    assert err.grpc_code == grpc.StatusCode.PERMISSION_DENIED
    assert err.may_have_executed is False
    assert err.description == "Access denied!"
    assert err.domain == "bitrix24"
    assert err.http_status == 403
    assert err.method == "crm.deal.delete"
    assert str(err) == "PERMISSION_DENIED ACCESS_DENIED: Bitrix24 ACCESS_DENIED from crm.deal.delete: Access denied!"


def test_an_empty_error_code_from_the_portal_is_empty(client: Client, stack: Stack) -> None:
    # The emulator answers a missing deal like Bitrix24: {"error": "", "error_description": "Not found"}.
    with pytest.raises(Bitrix24Error) as e:
        client.call(stack.portal, "crm.deal.get", {"id": 10**6})
    err = e.value
    assert err.code == ""
    assert err.domain == "bitrix24"
    assert err.description == "Not found"
    assert err.grpc_code == grpc.StatusCode.NOT_FOUND
    assert err.http_status == 400
    assert str(err).startswith("NOT_FOUND: ")


def test_a_portal_error_from_a_fault_keeps_its_code(client: Client, stack: Stack) -> None:
    stack.fault("json_error", "crm.deal.get", status=400, error="INVALID_ARG_VALUE", error_description="Bad id")
    with pytest.raises(Bitrix24Error) as e:
        client.call(stack.portal, "crm.deal.get", {"id": 1})
    assert (e.value.code, e.value.description, e.value.http_status) == ("INVALID_ARG_VALUE", "Bad id", 400)


def test_a_deadline_too_short_to_send_is_a_limit_error(client: Client, stack: Stack) -> None:
    before = stack.portal_stats()["requests_by_method"].get("crm.deal.get", 0)
    with pytest.raises(LimitError) as e:
        client.call(stack.portal, "crm.deal.get", {"id": 1}, timeout=0.001)
    assert e.value.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED
    # 40 ms is less than the gateway's http.min_attempt_time (50 ms): it refuses at once
    # (DEADLINE_BEFORE_SEND). The client's own timer could win on a very busy machine, so a
    # few tries are allowed to see the gateway's answer.
    codes = []
    for _ in range(5):
        try:
            client.call(stack.portal, "crm.deal.get", {"id": 1}, timeout=0.04)
        except LimitError as err:
            codes.append(err.code)
            if err.code:
                assert err.code == "DEADLINE_BEFORE_SEND" and err.may_have_executed is False
                break
    assert "DEADLINE_BEFORE_SEND" in codes, codes
    assert stack.portal_stats()["requests_by_method"].get("crm.deal.get", 0) == before, "nothing was sent"


def test_an_upstream_timeout_is_a_limit_error(client: Client, stack: Stack) -> None:
    stack.fault("slow", "crm.deal.get", count=1, delay_ms=3000)
    start = time.monotonic()
    with pytest.raises(LimitError) as e:
        client.call(stack.portal, "crm.deal.get", {"id": 1}, timeout=0.5)
    assert time.monotonic() - start < 2.5
    assert e.value.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_health(client: Client) -> None:
    assert client.health() == "SERVING"


def test_an_unreachable_gateway_is_a_bitrix24_error() -> None:
    with Client("127.0.0.1:1", timeout=2) as c:
        with pytest.raises(Bitrix24Error) as e:
            c.call("sandbox", "profile")
    assert e.value.grpc_code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert e.value.code == ""


def _ui_fields(stack: Stack, refresh_token: str, expires: str) -> Dict[str, str]:
    e = stack.emulator
    return {"AUTH_ID": e["access_token"], "REFRESH_ID": refresh_token, "AUTH_EXPIRES": expires,
            "member_id": e["member_id"], "DOMAIN": e["portal_url"].split("//", 1)[1].rstrip("/"),
            "SERVER_ENDPOINT": e["server_endpoint"], "APPLICATION_TOKEN": e["application_token"], "PROTOCOL": "0"}


def test_install_list_remove_and_a_portal_that_needs_reinstall(client: Client, stack: Stack) -> None:
    member_id = stack.emulator["member_id"]
    # An install whose refresh token the OAuth server does not know, with an access token that
    # expires within oauth.refresh_ahead: the first call refreshes and is refused.
    installed = client.install(ui_fields=_ui_fields(stack, "0" * 64, "10"),
                               client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert installed["member_id"] == member_id
    assert "installFinish" in installed["finish_html"]
    with pytest.raises(PortalNeedsReinstall) as e:
        client.call(member_id, "crm.deal.get", {"id": 1})  # 32 hex digits: a member_id
    assert e.value.code == "invalid_grant"
    assert e.value.grpc_code == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.needs_reinstall
    portals = {p["id"]: p for p in client.list_portals()}
    assert portals[member_id]["kind"] == "OAUTH" and portals[member_id]["needs_reinstall"] is True
    assert portals[stack.portal]["kind"] == "WEBHOOK"

    # Reinstalling with good tokens (what the portal sends when the app is opened again) heals it.
    client.install(ui_fields=_ui_fields(stack, stack.emulator["refresh_token"], "3600"),
                   client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert client.call(Portal.member(member_id), "crm.deal.get", {"id": 5})["result"]["ID"] == "5"
    assert {p["id"]: p for p in client.list_portals()}[member_id]["needs_reinstall"] is False

    assert client.remove_portal(member_id) is True
    assert client.remove_portal(member_id) is False
    assert member_id not in {p["id"] for p in client.list_portals()}


def test_install_refuses_tokens_the_portal_rejects(client: Client, stack: Stack) -> None:
    fields = dict(_ui_fields(stack, stack.emulator["refresh_token"], "3600"), AUTH_ID="f" * 64)
    with pytest.raises(Bitrix24Error) as e:
        client.install(ui_fields=fields, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert e.value.code == "INVALID_INSTALL"
    assert e.value.grpc_code == grpc.StatusCode.UNAUTHENTICATED
    assert "access token" in e.value.description


def test_install_needs_exactly_one_payload(client: Client) -> None:
    with pytest.raises(ValueError, match="exactly one of ui_fields"):
        client.install(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with pytest.raises(ValueError, match="exactly one of ui_fields"):
        client.install(ui_fields={}, onappinstall_fields={}, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.mark.writes
def test_a_write_dropped_after_executing_may_have_executed(client: Client, stack: Stack) -> None:
    before = stack.portal_stats()["executed_by_method"].get("crm.deal.add", 0)
    stack.fault("drop_after_execute", "crm.deal.add", count=1)
    title = f"dropped-{time.time_ns()}"
    with pytest.raises(Bitrix24Error) as e:
        client.call(stack.portal, "crm.deal.add", {"fields": {"TITLE": title}})
    err = e.value
    assert err.may_have_executed is True
    assert err.grpc_code == grpc.StatusCode.UNAVAILABLE
    assert err.code == "UPSTREAM_UNREACHABLE"
    assert err.method == "crm.deal.add"
    # It did run, once: the deal exists, and the gateway did not repeat the write.
    assert stack.portal_stats()["executed_by_method"]["crm.deal.add"] == before + 1
    found = client.call(stack.portal, "crm.deal.list", {"filter": {"TITLE": title}, "select": ["ID", "TITLE"]})
    assert found["total"] == 1 and found["result"][0]["TITLE"] == title
    assert int(found["result"][0]["ID"]) > DEALS
