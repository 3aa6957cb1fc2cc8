#!/usr/bin/env bash
# The main job: discover-name-cbm on real Fashion-MNIST with the suite's ResNet18 backbone, run
# by the `concept` command with an embedded server (all stages in this process), printing
# progress and the key numbers (`concept report ID` prints them again), and writing the concept
# atlas: the workflow's last step renders it in the gateway as an "atlas" artifact, which the
# command fetches (`concept atlas ID -o FILE` does the same later).
#   scripts/main-job.sh                      # default sizes (about 2 minutes on 2 idle cores, build included)
#   scripts/main-job.sh -p train_rows=2000   # any workflow parameter
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh main
data="${CONCEPTSUITE_DATA_DIR:-data}"
out="${CONCEPTSUITE_ATLAS:-artifacts-out/atlas-discover-name-cbm.html}"
echo "main-job: building the concept command (Release)..."
dotnet build clients/cli -c Release -v quiet -nologo | grep -E " error |rror\(s\)" || true
concept="clients/cli/bin/Release/net10.0/concept"
[ -x "$concept" ] || { echo "main-job: build failed: $concept is missing" >&2; exit 1; }
start=$(date +%s)
"$concept" --data-dir "$data" run discover-name-cbm --atlas "$out" "$@"
echo "main-job: finished in $(( $(date +%s) - start )) s; atlas: $out"
