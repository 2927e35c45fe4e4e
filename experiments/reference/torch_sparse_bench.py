"""PyTorch side of `bench --suite sparse`: dense torch.mm and torch.sparse CSR products on the same
shapes, batch widths and sparsities as our kernels (W [M, K] with a random pattern times X [K, N]),
timed the same way (fastest of interleaved samples after warm-up). Run with Debian's python3-torch:
    /usr/bin/python3 experiments/reference/torch_sparse_bench.py --threads 1 --points '1024,1024,64,0.9'
Prints one CSV line per point: M,K,N,sparsity,dense_seconds,csr_seconds.
Never required by the project; the benchmark runs it only when torch is importable."""
import argparse
import time
import warnings

import torch


# One thread: the thread's CPU time (the time spent waiting for a core on a shared machine left out),
# as our side measures it; more threads: wall time.
clock = time.perf_counter


def sample(fn, min_seconds):
    n, t0 = 0, clock()
    while True:
        fn()
        n += 1
        dt = clock() - t0
        if dt >= min_seconds:
            return dt / n


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
    return min(td), min(tc)  # the fastest sample, as our side


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--points", required=True, help="M,K,N,sparsity;M,K,N,sparsity;...")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.01)
    a = ap.parse_args()
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    torch.set_num_threads(a.threads)
    global clock
    clock = time.thread_time if a.threads == 1 else time.perf_counter
    for p in a.points.split(";"):
        M, K, N, s = p.split(",")
        td, tc = bench_point(int(M), int(K), int(N), float(s), a.samples, a.seconds)
        print(f"{M},{K},{N},{float(s)},{td:.9g},{tc:.9g}", flush=True)


if __name__ == "__main__":
    main()
