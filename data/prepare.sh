#!/usr/bin/env bash
# Prepares the datasets shipped by Debian into the data cache (default data/cache, or $1):
#   fashion-mnist/  decompressed IDX files from the package dataset-fashion-mnist
# Idempotent: a file already prepared (same size as freshly decompressed) is left alone. Writes go to
# a temporary name first, so an interrupted run never leaves a truncated file behind.
set -euo pipefail

out="${1:-$(dirname "$0")/cache}"
fmnist_src=/usr/share/datasets/fashion-mnist
mkdir -p "$out/fashion-mnist"

for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    src="$fmnist_src/$name.gz"
    dst="$out/fashion-mnist/$name"
    if [ ! -f "$src" ]; then
        echo "prepare: $src is missing; install the Debian package dataset-fashion-mnist (make setup)" >&2
        exit 1
    fi
    # gzip stores the uncompressed size (mod 2^32) in its last four bytes; these files are < 4 GiB.
    want=$(gzip -l "$src" | awk 'NR==2 {print $2}')
    if [ -f "$dst" ] && [ "$(stat -c %s "$dst")" = "$want" ]; then continue; fi
    gunzip -c "$src" > "$dst.tmp"
    mv "$dst.tmp" "$dst"
    echo "prepare: wrote $dst"
done
