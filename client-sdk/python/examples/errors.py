"""Telling the gateway's errors apart, and what to do about each: python errors.py

Runs against any gateway; against the test stack (its emulator denies crm.deal.delete) the
LimitError and Bitrix24Error branches happen for real. PortalNeedsReinstall needs an installed
app whose refresh token the portal rejected; the code shows where to handle it.
"""
import os
import random
import time
from typing import Any, Dict

from bitrix24_service import Bitrix24Error, Client, LimitError, PortalNeedsReinstall

portal = os.environ.get("B24_PORTAL", "sandbox")


def what_to_do(e: Bitrix24Error) -> str:
    if isinstance(e, PortalNeedsReinstall):
        # The portal rejected the app's refresh token (the app was uninstalled, or its tokens
        # went unused too long). No retry can help: stop calling this portal and ask its admin
        # to open the app again; Bitrix24 then posts a fresh installation, which your install
        # handler passes to client.install(ui_fields=..., client_id=..., client_secret=...).
        return "reinstall the app on this portal"
    if isinstance(e, LimitError):
        # QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT, DEADLINE_BEFORE_SEND or a deadline that
        # passed: the portal's limits (or this deadline) need more time.
        if e.may_have_executed:
            return "check whether the write ran before repeating it"
        return "retry later with a longer deadline"
    if e.may_have_executed:
        return "check whether the write ran before repeating it"
    return "do not retry as is: fix the request, the permissions or the data"


def call_with_retry(client: Client, method: str, params: Dict[str, Any], *, timeout: float,
                    attempts: int = 4) -> Dict[str, Any]:
    for attempt in range(1, attempts + 1):
        try:
            return client.call(portal, method, params, timeout=timeout)
        except LimitError as e:
            print(f"  attempt {attempt}: {type(e).__name__} {e.code or e.grpc_code.name} with a {timeout}s deadline"
                  f" -> {what_to_do(e)}")
            if e.may_have_executed or attempt == attempts:
                raise
            time.sleep(random.uniform(0, 0.05 * 2**attempt))  # jittered backoff
            timeout *= 10
    raise AssertionError("unreachable")


with Client(os.environ.get("B24_TARGET", "127.0.0.1:50051")) as client:
    print("1. LimitError: a 1 ms deadline cannot even be sent (the gateway wants 50 ms per attempt)")
    deal = call_with_retry(client, "crm.deal.get", {"id": 42}, timeout=0.001)
    print(f"  then it worked: deal {deal['result']['ID']}")

    print("2. Bitrix24Error: a method this webhook may not call")
    try:
        client.call(portal, "crm.deal.delete", {"id": 42})
    except Bitrix24Error as e:  # after the subclasses, if you catch those separately
        print(f"  {type(e).__name__} code={e.code!r} grpc={e.grpc_code.name} http_status={e.http_status} "
              f"may_have_executed={e.may_have_executed}\n  {e}\n  -> {what_to_do(e)}")

    print("3. PortalNeedsReinstall: installed portals the gateway already knows to be stale")
    stale = [p for p in client.list_portals() if p["needs_reinstall"]]
    for p in stale:
        print(f"  {p['id']} ({p['domain']}) -> reinstall the app on this portal")
    if not stale:
        print("  none (webhooks never need a reinstall)")
