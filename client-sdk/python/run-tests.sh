#!/usr/bin/env bash
# Tests of the Python client, as CI runs them (CTest calls this script):
#   1. a fresh venv of Debian's /usr/bin/python3 with --system-site-packages (grpcio, protobuf,
#      pytest come from Debian) under ${B24_WORK_DIR:-/tmp/b24-python-client};
#   2. `pip install --no-build-isolation` of this package, non-editable: what README.md tells users;
#   3. pytest from outside the source tree, so the installed package is the one imported,
#      against the real service and emulator (B24_SERVICE_BIN, B24_EMULATOR_BIN; default build/).
# Extra arguments go to pytest (e.g. -k resume).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(realpath -m "${B24_WORK_DIR:-/tmp/b24-python-client}")
PYTHON=/usr/bin/python3
export B24_SERVICE_BIN=${B24_SERVICE_BIN:-$ROOT/build/service/bitrix24-service}
export B24_EMULATOR_BIN=${B24_EMULATOR_BIN:-$ROOT/build/tests/testing/b24-emulator}

die() { echo "run-tests.sh: $*" >&2; exit 1; }
[ -x "$PYTHON" ] || die "$PYTHON not found: apt-get install python3 python3-venv"
for bin in "$B24_SERVICE_BIN" "$B24_EMULATOR_BIN"; do
  [ -x "$bin" ] || die "$bin is not built (build the project, or set B24_SERVICE_BIN / B24_EMULATOR_BIN)"
done
"$PYTHON" -c 'import grpc, google.protobuf, pytest' 2>/dev/null ||
  die "$PYTHON lacks grpcio, protobuf or pytest: apt-get install python3-grpcio python3-protobuf python3-pytest"

case "$WORK" in /|"$HOME"|"$ROOT"|"$ROOT"/client-sdk*|"$ROOT"/service*|"$ROOT"/proto*) die "refusing to use B24_WORK_DIR=$WORK (it is removed first)" ;; esac
rm -rf "$WORK"
mkdir -p "$WORK/run"
VENV=$WORK/venv
"$PYTHON" -m venv --system-site-packages "$VENV"
"$VENV/bin/pip" install --no-build-isolation --no-input --disable-pip-version-check -q "$ROOT/client-sdk/python" \
  || die "pip install of client-sdk/python failed"

cd "$WORK/run"
# The source tree stays clean: no __pycache__ or .pytest_cache is written into it.
export PYTHONDONTWRITEBYTECODE=1 B24_EXPECT_INSTALLED_IN="$VENV"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider --rootdir="$WORK/run" -q -ra "$HERE/tests" "$@"
