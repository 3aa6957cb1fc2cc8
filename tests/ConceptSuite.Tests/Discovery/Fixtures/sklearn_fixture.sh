#!/bin/sh
# Regenerates the numbers pinned in SklearnAgreementTests (output: sklearn_fixture.jsonl).
set -e
dir=$(mktemp -d)
/usr/bin/python3 "$(dirname "$0")/make_fixture_matrix.py" "$dir/fix.npy"
for m in nmf pca kmeans ica; do
  /usr/bin/python3 /work/shared/peers/sklearn_fit.py --method $m --input "$dir/fix.npy" --components 5 --iters 200 --seed 0
done
rm -rf "$dir"
