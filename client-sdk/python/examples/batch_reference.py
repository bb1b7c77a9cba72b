"""A batch whose second command uses the first one's result: python batch_reference.py [DEAL_ID]

Command "b" lists the deals after deal "a" with the filter ">ID": "$result[a][ID]"; the portal
substitutes the reference while it runs the batch, so both run in one HTTP request.
"""
import os
import sys

from bitrix24_service import Client

portal = os.environ.get("B24_PORTAL", "sandbox")
deal_id = int(sys.argv[1]) if len(sys.argv) > 1 else 42

with Client(os.environ.get("B24_TARGET", "127.0.0.1:50051")) as client:
    results = client.batch(portal, {
        "a": ("crm.deal.get", {"id": deal_id}),
        "b": ("crm.deal.list", {"filter": {">ID": "$result[a][ID]"}, "order": {"ID": "ASC"},
                                "select": ["ID", "TITLE"]}),
    })
    for key, outcome in results.items():  # in request order
        if "error" in outcome:
            sys.exit(f"{key}: {outcome['error']['code']}: {outcome['error']['description']}")
    a, b = results["a"]["result"], results["b"]["result"]
    print(f"a: deal {a['ID']} {a['TITLE']!r}")
    print(f"b: {results['b']['total']} deals after it; the next ones: " + ", ".join(d["ID"] for d in b[:5]))
    print(f"{len(results)} commands in {results.http_requests} HTTP request(s)")
