#!/bin/sh
# Builds experiments/reference/eigen_sparse_bench.cpp into BINDIR (again only when the source is
# newer) and runs it with the remaining arguments. Needs Debian's libeigen3-dev, which the project
# never requires: `bench --suite sparse` calls this only when Eigen's headers are installed.
#     sh experiments/reference/eigen_sparse_bench.sh runs/bench --threads 1 --points '1024,1024,64,0.9'
set -e
[ $# -ge 1 ] || { echo "usage: $0 BINDIR [eigen_sparse_bench options]" >&2; exit 2; }
bindir=$1
shift
src=$(dirname "$0")/eigen_sparse_bench.cpp
bin=$bindir/eigen_sparse_bench
[ -f /usr/include/eigen3/Eigen/Sparse ] || { echo "$0: Eigen's headers are not installed (apt-get install libeigen3-dev)" >&2; exit 1; }
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    mkdir -p "$bindir"
    # The instruction set of our own build (meson.build): -march=native, or x86-64-v4 where g++ 12
    # does not know the CPU and would leave out its AVX-512.
    arch=-march=native
    if ! g++ -march=native -dM -E - </dev/null | grep -q __AVX512F__ && grep -qw avx512f /proc/cpuinfo; then
        arch="-march=x86-64-v4 -mtune=native"
    fi
    g++ -std=c++20 -O3 -DNDEBUG $arch -fopenmp -I/usr/include/eigen3 -o "$bin.tmp" "$src"
    mv "$bin.tmp" "$bin"
fi
exec "$bin" "$@"
