"""PyTorch side of `bench --suite sparse`: dense torch.mm and torch.sparse CSR products on the same
shapes, batch widths and sparsities as our kernels (W [M, K] with a random pattern times X [K, N]),
timed the same way (median of interleaved samples after warm-up). Run with Debian's python3-torch:
    /usr/bin/python3 experiments/reference/torch_sparse_bench.py --threads 1 --points '1024,1024,64,0.9'
Prints one CSV line per point: M,K,N,sparsity,dense_seconds,csr_seconds.
Never required by the project; the benchmark runs it only when torch is importable."""
import argparse
import time
import warnings

import torch


def sample(fn, min_seconds):
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return dt / n


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def bench_point(M, K, N, sparsity, samples, min_seconds):
    g = torch.Generator().manual_seed(M * 7919 + K * 31 + N)
    keep = torch.rand(M, K, generator=g) >= sparsity
    W = torch.randn(M, K, generator=g) * keep
    X = torch.randn(K, N, generator=g)
    Wcsr = W.to_sparse_csr()
    # (torch.mv on a CSR tensor needs a build with MKL, which Debian's is not: N = 1 runs as a
    # one-column torch.mm.)
    dense = lambda: torch.mm(W, X)
    csr = lambda: torch.mm(Wcsr, X)
    with torch.no_grad():
        dense()
        csr()
        td, tc = [], []
        for _ in range(samples):
            td.append(sample(dense, min_seconds))
            tc.append(sample(csr, min_seconds))
    return median(td), median(tc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--points", required=True, help="M,K,N,sparsity;M,K,N,sparsity;...")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=0.01)
    a = ap.parse_args()
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    torch.set_num_threads(a.threads)
    for p in a.points.split(";"):
        M, K, N, s = p.split(",")
        td, tc = bench_point(int(M), int(K), int(N), float(s), a.samples, a.seconds)
        print(f"{M},{K},{N},{float(s)},{td:.9g},{tc:.9g}", flush=True)


if __name__ == "__main__":
    main()
