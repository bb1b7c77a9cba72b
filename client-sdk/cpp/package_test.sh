#!/usr/bin/env bash
# The C++ package as a user gets it: `cmake --install` of the client component into a
# fresh prefix, then client-sdk/cpp/examples built as a separate project with
# find_package(Bitrix24Client CONFIG) and run against the real service and emulator.
# Usage: package_test.sh BUILD_DIR SERVICE_BIN EMULATOR_BIN   (CTest passes them)
set -euo pipefail
BUILD=$1 SERVICE=$2 EMULATOR=$3
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/b24-cpp-package.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cmake --install "$BUILD" --component client --prefix "$WORK/prefix" >/dev/null
test -f "$WORK/prefix/include/bitrix24/client.h"
test -x "$WORK/prefix/bin/b24ctl"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$HERE/examples" -B "$WORK/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" "${launcher[@]}" >/dev/null
cmake --build "$WORK/examples" >/dev/null

"$EMULATOR" --deals=3000 --no-limits --deny-methods=crm.deal.delete >"$WORK/emulator.json" &
pids+=($!)
for _ in $(seq 100); do [ -s "$WORK/emulator.json" ] && break; sleep 0.1; done
webhook=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["webhook_url"])' "$WORK/emulator.json")
"$SERVICE" --listen=127.0.0.1:0 --security.allow_loopback=true --security.allow_http=true \
  --webhooks.sandbox="$webhook" --store.url="sqlite3://db=$WORK/tokens.db" >"$WORK/service.log" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/service.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$WORK/service.log"; echo "package_test: the service did not start" >&2; exit 1; }
export B24_TARGET=127.0.0.1:$port B24_PORTAL=sandbox

"$WORK/examples/export_deals" >"$WORK/deals.jsonl"
n=$(wc -l <"$WORK/deals.jsonl")
ids=$(/usr/bin/python3 -c 'import json,sys; print(len({json.loads(l)["ID"] for l in open(sys.argv[1])}))' "$WORK/deals.jsonl")
[ "$n" = 3000 ] && [ "$ids" = 3000 ] || { echo "export_deals: $n lines, $ids distinct IDs, want 3000" >&2; exit 1; }

batch=$("$WORK/examples/batch_reference")
/usr/bin/python3 - "$batch" <<'PY'
import json, sys
out = json.loads(sys.argv[1])
keys = [r["key"] for r in out["results"]]
assert keys == ["a", "b"], keys
assert out["results"][1]["result"] == [{"ID": "1"}], out["results"][1]
assert out["http_requests"] == 1, out
PY

errors=$("$WORK/examples/errors")
grep -q '^limit: DEADLINE_BEFORE_SEND' <<<"$errors" || { echo "errors: $errors" >&2; exit 1; }
grep -q '^error: code=ACCESS_DENIED may_have_executed=0' <<<"$errors" || { echo "errors: $errors" >&2; exit 1; }
grep -q '^error: code=UNKNOWN_PORTAL may_have_executed=0' <<<"$errors" || { echo "errors: $errors" >&2; exit 1; }
"$WORK/prefix/bin/b24ctl" health | grep -qx SERVING
echo "package_test: installed, built the examples against it, ran them: OK"
