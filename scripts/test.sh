#!/usr/bin/env bash
# README's test command: install missing prerequisites, then run every test.
# Failed tests are repeated at the end of the output, with their messages, so the tail of a long
# log says what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
dotnet test Suite.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "==== failed tests ===="
    grep -A 25 '^  Failed ' "$log" | cut -c1-400 || echo "(no failed test in the log: the build or the test host failed; see above)"
fi
exit "$rc"
