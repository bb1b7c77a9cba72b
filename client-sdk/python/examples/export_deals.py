"""Exports every deal of a portal to deals.jsonl, one JSON object per line."""
import json, os
from bitrix24_service import Client

target = os.environ.get("B24_TARGET", "127.0.0.1:50051")
portal = os.environ.get("B24_PORTAL", "sandbox")
with Client(target) as client, open("deals.jsonl", "w", encoding="utf-8") as out:
    for deal in client.get_all(portal, "crm.deal.list", {"select": ["*", "UF_*"]}):
        out.write(json.dumps(deal, ensure_ascii=False) + "\n")
