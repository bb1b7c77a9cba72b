#!/usr/bin/env bash
# The one generator of client stubs: every language's code comes from proto/ by
# this script, with Debian's protoc (never python3-grpc-tools' bundled 3.5.1, which
# rejects proto3 `optional`; ../shared/TOOLCHAIN.md).
#
#   client-sdk/generate.sh python OUT_DIR   Python messages + gRPC stubs (grpc_python_plugin),
#                                           imports rewritten into the package `bitrix24_service._gen`
#   client-sdk/generate.sh node OUT_DIR     TypeScript messages + grpc-js clients (ts-proto; its
#                                           plugin comes from client-sdk/node/node_modules)
#   client-sdk/generate.sh cpp OUT_DIR      C++ messages + stubs (grpc_cpp_plugin); CMake does the
#                                           same for the build (b24_proto_library)
#   client-sdk/generate.sh check            regenerates every language into a temporary directory
#                                           and fails when a committed copy differs (there is none
#                                           today; the check keeps it that way) or a proto is unused
#
# Generated code is not committed: the Python package runs this at build time, the Node
# package at `npm run build` (also run by `npm pack`/`npm install` of the folder), C++ at
# CMake build time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PROTO_DIR=$ROOT/proto
PROTOC=${PROTOC:-/usr/bin/protoc}
# The API and the error details the gateway sends in grpc-status-details-bin.
PROTOS=(bitrix24/v1/bitrix24.proto google/rpc/status.proto google/rpc/error_details.proto)

die() { echo "generate.sh: $*" >&2; exit 1; }
[ -x "$PROTOC" ] || die "$PROTOC not found: apt-get install protobuf-compiler protobuf-compiler-grpc"

gen_python() {
  local out=$1 plugin=/usr/bin/grpc_python_plugin
  [ -x "$plugin" ] || die "$plugin not found: apt-get install protobuf-compiler-grpc"
  mkdir -p "$out"
  "$PROTOC" -I"$PROTO_DIR" --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
    --plugin=protoc-gen-grpc_python="$plugin" "${PROTOS[@]}"
  # protoc writes absolute imports (`from bitrix24.v1 import bitrix24_pb2`); the modules live
  # inside the package, so make the imports of our own protos relative to `_gen`. Imports of
  # google.protobuf (python3-protobuf) stay as they are.
  local f
  find "$out" \( -name '*.py' -o -name '*.pyi' \) -print0 | while IFS= read -r -d '' f; do
    sed -i -E \
      -e 's/^from (bitrix24\.v1|google\.rpc) import /from bitrix24_service._gen.\1 import /' \
      -e 's/^import (bitrix24\.v1|google\.rpc)\.([a-z_0-9]+) as /import bitrix24_service._gen.\1.\2 as /' \
      "$f"
  done
  local d
  for d in "$out" "$out/bitrix24" "$out/bitrix24/v1" "$out/google" "$out/google/rpc"; do
    [ -f "$d/__init__.py" ] || : >"$d/__init__.py"
  done
}

gen_node() {
  local out=$1 plugin=$HERE/node/node_modules/.bin/protoc-gen-ts_proto
  [ -x "$plugin" ] || die "$plugin not found: run npm install in client-sdk/node first"
  mkdir -p "$out"
  "$PROTOC" -I"$PROTO_DIR" --plugin=protoc-gen-ts_proto="$plugin" --ts_proto_out="$out" \
    --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,forceLong=number,useOptionals=messages,env=node \
    "${PROTOS[@]}" google/protobuf/struct.proto
}

gen_cpp() {
  local out=$1 plugin=/usr/bin/grpc_cpp_plugin
  [ -x "$plugin" ] || die "$plugin not found: apt-get install protobuf-compiler-grpc"
  mkdir -p "$out"
  "$PROTOC" -I"$PROTO_DIR" --cpp_out="$out" --grpc_out="$out" --plugin=protoc-gen-grpc="$plugin" "${PROTOS[@]}"
}

check() {
  local tmp status=0
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  gen_python "$tmp/python"
  gen_cpp "$tmp/cpp"
  if [ -x "$HERE/node/node_modules/.bin/protoc-gen-ts_proto" ]; then gen_node "$tmp/node"; fi
  # Every proto under proto/ is generated (a new file must be added to PROTOS).
  local p
  while IFS= read -r p; do
    p=${p#"$PROTO_DIR/"}
    printf '%s\n' "${PROTOS[@]}" | grep -qx "$p" || { echo "generate.sh: $p is not in PROTOS" >&2; status=1; }
  done < <(find "$PROTO_DIR" -name '*.proto' | sort)
  # No generated file may be committed: it would drift from the proto.
  local committed
  committed=$(git -C "$ROOT" ls-files -- 'client-sdk/*_pb2.py' 'client-sdk/*_pb2_grpc.py' 'client-sdk/*.pb.h' \
    'client-sdk/*.pb.cc' 'client-sdk/node/src/gen/*' || true)
  if [ -n "$committed" ]; then
    echo "generate.sh: generated files are committed (they must be built from proto/):" >&2
    echo "$committed" >&2
    status=1
  fi
  [ $status = 0 ] && echo "generate.sh: stubs for python, cpp$( [ -d "$tmp/node" ] && echo ", node") generate from proto/"
  return $status
}

case "${1:-}" in
  python) [ $# = 2 ] || die "usage: generate.sh python OUT_DIR"; gen_python "$2" ;;
  node) [ $# = 2 ] || die "usage: generate.sh node OUT_DIR"; gen_node "$2" ;;
  cpp) [ $# = 2 ] || die "usage: generate.sh cpp OUT_DIR"; gen_cpp "$2" ;;
  check) check ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
