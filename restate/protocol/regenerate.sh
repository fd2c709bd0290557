#!/usr/bin/env sh
# Regenerate restate/protocol/_generated/service_protocol_pb2.py(+.pyi) from service_protocol.proto.
# Usage (from anywhere): restate/protocol/regenerate.sh   (needs grpcio-tools in the project .venv)
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
"$PY" -m grpc_tools.protoc \
  --proto_path="$HERE" \
  --python_out="$HERE/_generated" \
  --pyi_out="$HERE/_generated" \
  "$HERE/service_protocol.proto"
