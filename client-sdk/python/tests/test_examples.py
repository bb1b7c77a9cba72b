"""The examples run against the stack as a user would run them."""

from __future__ import annotations

import json
from collections import Counter

from conftest import DEALS, EXAMPLES, Stack, run_example


def test_export_deals_writes_every_deal_as_json_lines(stack: Stack, seeded_ids: frozenset[str]) -> None:
    out = stack.tmp / "deals.jsonl"
    out.unlink(missing_ok=True)
    proc = run_example(stack, "export_deals.py")
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    deals = [json.loads(line) for line in lines]
    assert len(deals) == DEALS
    ids = Counter(d["ID"] for d in deals)
    assert set(ids) == seeded_ids and max(ids.values()) == 1
    assert all(d["TITLE"] == f"Deal {d['ID']}" for d in deals)


def test_export_deals_is_the_readme_snippet() -> None:
    code = (EXAMPLES / "export_deals.py").read_text().split("from bitrix24_service import Client\n", 1)[1]
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) == 5, lines
    readme = (EXAMPLES.parent / "README.md").read_text()
    assert all(line in readme for line in lines), "README.md shows another export snippet"


def test_batch_reference(stack: Stack) -> None:
    proc = run_example(stack, "batch_reference.py", "42")
    assert proc.returncode == 0, proc.stderr
    assert "a: deal 42 'Deal 42'" in proc.stdout
    assert f"b: {DEALS - 42} deals after it; the next ones: 43, 44, 45, 46, 47" in proc.stdout
    assert "2 commands in 1 HTTP request(s)" in proc.stdout


def test_errors_example(stack: Stack) -> None:
    proc = run_example(stack, "errors.py")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "attempt 1: LimitError" in out and "then it worked: deal 42" in out
    assert "code='ACCESS_DENIED' grpc=PERMISSION_DENIED http_status=403 may_have_executed=False" in out
    assert "PERMISSION_DENIED ACCESS_DENIED: Bitrix24 ACCESS_DENIED from crm.deal.delete: Access denied!" in out
    assert "-> do not retry as is" in out
    assert "3. PortalNeedsReinstall" in out
