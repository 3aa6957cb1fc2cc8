#!/usr/bin/env bash
# Generates the Python stubs from protos/ with Debian's python3-grpc-tools.
# Usage: clients/python/generate.sh [OUT_DIR]   (default: clients/python/conceptsuite_pb, not committed)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/conceptsuite_pb}"
python=/usr/bin/python3
if ! "$python" -c "import grpc_tools.protoc, grpc, numpy" 2>/dev/null; then
  echo "generate.sh: needs Debian packages python3-grpc-tools python3-grpcio python3-numpy (scripts/prereqs.sh installs them)" >&2
  exit 1
fi
mkdir -p "$out"
protos=$(cd "$root/protos" && find conceptsuite -name '*.proto' | sort)
(cd "$root/protos" && "$python" -m grpc_tools.protoc -I . --python_out="$out" --grpc_python_out="$out" $protos)
echo "generated $(echo "$protos" | wc -w) protos into $out"
