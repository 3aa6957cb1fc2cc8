#!/usr/bin/env bash
# Generates the Python stubs from protos/ with Debian's python3-grpc-tools, into the package:
# clients/python/conceptsuite/v1/ (not committed). `pip install -e clients/python` does the same.
# Usage: clients/python/generate.sh [OUT_ROOT]   (the stubs land in OUT_ROOT/conceptsuite/v1)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python=/usr/bin/python3
if ! "$python" -c "import grpc_tools.protoc, grpc, numpy" 2>/dev/null; then
  echo "generate.sh: needs Debian packages python3-grpc-tools python3-grpcio python3-numpy (scripts/prereqs.sh installs them)" >&2
  exit 1
fi
exec "$python" "$here/build_stubs.py" "$@"
