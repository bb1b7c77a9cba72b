#!/usr/bin/env bash
# The Node client's CI entry point (CTest calls it): with whatever node/npm is on PATH
# (Debian 12's nodejs 18 + npm 9 in CI), installs the dev dependencies from
# package-lock.json and builds (npm ci runs `prepare`), packs the package and installs the
# tarball into a scratch project the way README.md tells users, type-checks a TypeScript
# consumer against the installed types, then runs `npm test` (unit tests, and the
# integration tests against the real gateway and emulator) with the examples run from the
# scratch project, so that they import the installed package.
#
# Env: B24_SERVICE_BIN, B24_EMULATOR_BIN   the binaries (default: <repo>/build/...)
#      B24_WORK_DIR                        scratch space (default /tmp/b24-node-client)
#      B24_KEEP_WORK=1                     keep this run's scratch project
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${B24_WORK_DIR:-/tmp/b24-node-client}
T0=$(date +%s)
step() { echo "=== [$(($(date +%s) - T0))s] $*"; }
die() { echo "run-tests.sh: $*" >&2; exit 1; }

command -v node >/dev/null || die "node not found on PATH (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found on PATH (apt-get install npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || die "node $(node --version) is too old: the client needs Node 18 or later"
step "node $(node --version), npm $(npm --version)"

export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# B24_* binaries are read by test/stack.mjs; relative paths are made absolute here because
# the tests run from the package directory.
for v in B24_SERVICE_BIN B24_EMULATOR_BIN; do
  if [ -n "${!v:-}" ]; then
    [ -x "${!v}" ] || die "$v=${!v} is not an executable"
    export "$v=$(cd "$(dirname "${!v}")" && pwd)/$(basename "${!v}")"
  fi
done

mkdir -p "$WORK"
RUN=$(mktemp -d "$WORK/run.XXXXXX")
cleanup() { if [ "${B24_KEEP_WORK:-0}" = 1 ]; then echo "kept $RUN"; else rm -rf "$RUN"; fi; }
trap cleanup EXIT

cd "$HERE"
step "npm ci (dev dependencies; prepare builds src/gen and dist)"
# The dependencies come from the npm registry (or npm's cache). A machine that reaches neither
# cannot run this suite: CTest reports it as skipped (exit 77, SKIP_RETURN_CODE), loudly, rather
# than failing every other test's run. Behind a TLS-intercepting proxy, point npm at its CA
# (npm_config_cafile or NODE_EXTRA_CA_CERTS), as this repository's CI machines do.
if ! timeout 60 npm ping >"$RUN/ping.log" 2>&1; then
  if ! npm ci --offline >"$RUN/ci-offline.log" 2>&1; then
    echo "SKIPPED: the npm registry is unreachable from this machine and npm's cache lacks the" >&2
    echo "dependencies, so the Node client cannot be built here. npm ping said:" >&2
    sed 's/^/  /' "$RUN/ping.log" >&2
    exit 77
  fi
  step "npm registry unreachable: installed from npm's cache"
else
  npm ci
fi
for f in dist/index.js dist/index.d.ts; do [ -f "$f" ] || die "npm ci did not build $f (the prepare script)"; done

step "npm pack"
# What README.md tells users: `npm ci && npm pack` in client-sdk/node (pack runs prepare again).
tarball=$(npm pack --pack-destination "$RUN" | tail -n 1)
[ -f "$RUN/$tarball" ] || die "npm pack did not write $RUN/$tarball"
contents=$(tar -tzf "$RUN/$tarball")
for f in package/dist/index.js package/dist/index.d.ts package/dist/gen/bitrix24/v1/bitrix24.js package/README.md; do
  grep -qx "$f" <<<"$contents" || die "$tarball lacks ${f#package/}"
done

step "install $tarball into a scratch project"
project=$RUN/project
mkdir -p "$project"
cat >"$project/package.json" <<'EOF'
{ "name": "b24-node-client-scratch", "version": "1.0.0", "private": true }
EOF
(cd "$project" && npm install "$RUN/$tarball")
cp -r "$HERE/examples" "$project/examples"
resolved=$(cd "$project/examples" && node -p 'require.resolve("@bitrix24-service/client")')
case $resolved in
  "$project/node_modules/"*) echo "examples import $resolved" ;;
  *) die "the scratch project resolves the package to $resolved, not its node_modules" ;;
esac

step "type-check a TypeScript consumer against the installed package"
cat >"$project/consumer.ts" <<'EOF'
import { Client, LimitError, Portal, type BatchItem, type CallResult } from "@bitrix24-service/client";
async function main(): Promise<void> {
  const client = new Client("127.0.0.1:50051", { timeout: 5 });
  const r: CallResult = await client.call(Portal.named("sandbox"), "crm.deal.get", { id: 42 });
  const b: Record<string, BatchItem> = await client.batch("sandbox", [{ key: "a", method: "profile" }]);
  for await (const deal of client.getAll<{ ID: string }>("sandbox", "crm.deal.list")) console.log(deal.ID.length, r.total, b);
  try { await client.health(); } catch (e) { if (e instanceof LimitError) console.log(e.code, e.mayHaveExecuted, e.retryAfter); }
  client.close();
}
void main;
EOF
"$HERE/node_modules/.bin/tsc" --noEmit --strict --target ES2022 --module node16 --moduleResolution node16 \
  --typeRoots "$HERE/node_modules/@types" --types node "$project/consumer.ts"

step "npm test (examples from $project/examples)"
B24_EXAMPLES_DIR=$project/examples npm test

step "all passed"
