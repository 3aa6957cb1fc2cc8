#!/usr/bin/env bash
# README's test command: install missing prerequisites, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
dotnet test Suite.sln -c Release --logger "console;verbosity=normal" "$@"
