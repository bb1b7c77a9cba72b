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
  local out=$1 plugin=/usr/bin/grpc_python_plugin wkt=() wkt_set="" rc=0
  [ -x "$plugin" ] || die "$plugin not found: apt-get install protobuf-compiler-grpc"
  mkdir -p "$out"
  # The protos import google/protobuf/{struct,any}.proto. Debian ships those files in
  # libprotobuf-dev (protoc's <prefix>/include), not in protobuf-compiler, and a Python-only
  # machine has no reason to install the C++ headers. Without them, protoc reads their
  # descriptors from the protobuf runtime the stubs need anyway (python3-protobuf; PYTHON3 names
  # the interpreter). The output is the same: only the imports' names go into generated code.
  if [ ! -f "$(dirname "$PROTOC")/../include/google/protobuf/struct.proto" ]; then
    local python=${PYTHON3:-/usr/bin/python3}
    wkt_set=$(mktemp "${TMPDIR:-/tmp}/b24-wkt.XXXXXX")
    if ! "$python" -c 'import sys
from google.protobuf import descriptor_pb2
from google.protobuf import any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2
files = descriptor_pb2.FileDescriptorSet()
for m in (any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2):
    m.DESCRIPTOR.CopyToProto(files.file.add())
open(sys.argv[1], "wb").write(files.SerializeToString())' "$wkt_set"; then
      rm -f "$wkt_set"
      die "google/protobuf/*.proto not found: apt-get install libprotobuf-dev, or python3-protobuf for $python"
    fi
    wkt=(--descriptor_set_in="$wkt_set")
  fi
  "$PROTOC" -I"$PROTO_DIR" "${wkt[@]}" --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
    --plugin=protoc-gen-grpc_python="$plugin" "${PROTOS[@]}" || rc=$?
  [ -z "$wkt_set" ] || rm -f "$wkt_set"
  [ "$rc" = 0 ] || die "protoc failed (exit $rc)"
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
  local out=$1 node_dir=$HERE/node grpc_proto=${GRPC_PROTO_DIR:-/usr/share/grpc-proto} wkt=() wkt_set="" rc=0
  local plugin=$node_dir/node_modules/.bin/protoc-gen-ts_proto
  [ -x "$plugin" ] || die "$plugin not found: run npm ci (or npm install) in client-sdk/node first"
  # Client.health() speaks the standard grpc.health.v1 protocol (Debian's grpc-proto).
  [ -f "$grpc_proto/grpc/health/v1/health.proto" ] ||
    die "$grpc_proto/grpc/health/v1/health.proto not found: apt-get install grpc-proto (or set GRPC_PROTO_DIR)"
  # google/protobuf/{any,duration,struct}.proto come with libprotobuf-dev (protoc's
  # <prefix>/include), not with protobuf-compiler, and a Node-only machine has no reason to
  # install the C++ headers. Without them, protoc reads their descriptors from
  # @bufbuild/protobuf (the generated code's runtime, in node_modules); only the comments of
  # struct.ts differ.
  if [ ! -f "$(dirname "$PROTOC")/../include/google/protobuf/struct.proto" ]; then
    wkt_set=$(mktemp "${TMPDIR:-/tmp}/b24-wkt.XXXXXX")
    if ! (cd "$node_dir" && node -e 'const { create, toBinary } = require("@bufbuild/protobuf");
const wkt = require("@bufbuild/protobuf/wkt");
const files = [wkt.file_google_protobuf_any, wkt.file_google_protobuf_duration, wkt.file_google_protobuf_struct];
const set = create(wkt.FileDescriptorSetSchema, { file: files.map((f) => f.proto) });
require("fs").writeFileSync(process.argv[1], toBinary(wkt.FileDescriptorSetSchema, set));' "$wkt_set"); then
      rm -f "$wkt_set"
      die "google/protobuf/*.proto not found and @bufbuild/protobuf unusable: apt-get install libprotobuf-dev, or npm ci in $node_dir"
    fi
    wkt=(--descriptor_set_in="$wkt_set")
  fi
  mkdir -p "$out"
  # Struct/Value/ListValue become plain JS objects/values (ts-proto's default wrappers),
  # int64 a number (exact to 2^53), bytes a Buffer; no fromPartial/DeepPartial helpers.
  "$PROTOC" -I"$PROTO_DIR" -I"$grpc_proto" "${wkt[@]}" --plugin=protoc-gen-ts_proto="$plugin" --ts_proto_out="$out" \
    --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,forceLong=number,useOptionals=messages,env=node \
    --ts_proto_opt=outputPartialMethods=false \
    "${PROTOS[@]}" google/protobuf/struct.proto grpc/health/v1/health.proto || rc=$?
  [ -z "$wkt_set" ] || rm -f "$wkt_set"
  [ "$rc" = 0 ] || die "protoc failed (exit $rc)"
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
