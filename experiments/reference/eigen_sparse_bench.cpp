// Eigen side of `bench --suite sparse`: Eigen 3's dense product and its sparse (row-major CSR) times
// dense product on the same shapes, batch widths and sparsities as our kernels (W [M, K] with a random
// pattern times X [K, N]), timed the same way (fastest of interleaved samples after warm-up; one
// thread: the thread's CPU time, more: wall time). Not part of the build and never required: the
// benchmark compiles it with experiments/reference/eigen_sparse_bench.sh when libeigen3-dev is
// installed. Eigen multiplies a CSR matrix by a column-major X one output column at a time (a sparse
// dot product per row, the only form it runs on several threads) and by a row-major X one row at a
// time (each stored weight times a row of X, vectorized along N, like our kernels); both are timed and
// the faster is reported.
//     eigen_sparse_bench --threads 1 --points '1024,1024,64,0.9;1024,1024,64,0.95'
// prints one CSV line per point: M,K,N,sparsity,dense_seconds,csr_seconds.
#include <Eigen/Dense>
#include <Eigen/Sparse>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Dense = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using DenseRows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Csr = Eigen::SparseMatrix<float, Eigen::RowMajor, int>;

int g_threads = 1;

double now() {
    timespec ts;
    clock_gettime(g_threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Seconds per call of fn, over as many calls as fill min_seconds.
double sample(const std::function<void()>& fn, double min_seconds) {
    int n = 0;
    double t0 = now();
    for (;;) {
        fn();
        n++;
        double dt = now() - t0;
        if (dt >= min_seconds) return dt / n;
    }
}

struct Times {
    double dense, csr;
};

Times bench_point(int M, int K, int N, double sparsity, int samples, double min_seconds) {
    std::mt19937_64 gen(uint64_t(M) * 7919 + uint64_t(K) * 31 + uint64_t(N));
    std::uniform_real_distribution<float> uni(0.0f, 1.0f);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Dense W = Dense::Zero(M, K);
    std::vector<Eigen::Triplet<float, int>> entries;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            if (uni(gen) >= sparsity) {
                float v = normal(gen);
                W(m, k) = v;
                entries.emplace_back(m, k, v);
            }
    Csr Wcsr(M, K);
    Wcsr.setFromTriplets(entries.begin(), entries.end());
    Wcsr.makeCompressed();
    Dense X(K, N);
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) X(k, n) = normal(gen);
    DenseRows Xr = X;
    Dense Y(M, N);
    DenseRows Yr(M, N);
    std::vector<std::function<void()>> fns = {
        [&] { Y.noalias() = W * X; },
        [&] { Y.noalias() = Wcsr * X; },
        [&] { Yr.noalias() = Wcsr * Xr; },
    };
    std::vector<double> best(fns.size(), 1e30);
    for (auto& f : fns) f();  // warm-up
    for (int s = 0; s < samples; s++)
        for (size_t i = 0; i < fns.size(); i++) best[i] = std::min(best[i], sample(fns[i], min_seconds));
    return {best[0], std::min(best[1], best[2])};
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "eigen_sparse_bench: %s\nusage: eigen_sparse_bench --threads T --points 'M,K,N,s;...' "
                         "[--samples 5] [--seconds 0.01]\n", why);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string points;
    int samples = 5;
    double seconds = 0.01;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage("every option takes a value");
        std::string a = argv[i], v = argv[++i];
        if (a == "--threads") g_threads = std::atoi(v.c_str());
        else if (a == "--points") points = v;
        else if (a == "--samples") samples = std::atoi(v.c_str());
        else if (a == "--seconds") seconds = std::atof(v.c_str());
        else usage(("unknown option " + a).c_str());
    }
    if (points.empty() || g_threads < 1 || samples < 1 || !(seconds > 0)) usage("bad or missing option");
    Eigen::setNbThreads(g_threads);
    std::stringstream list(points);
    std::string p;
    while (std::getline(list, p, ';')) {
        int M = 0, K = 0, N = 0;
        double s = -1;
        if (std::sscanf(p.c_str(), "%d,%d,%d,%lf", &M, &K, &N, &s) != 4 || M < 1 || K < 1 || N < 1 || s < 0 || s > 1)
            usage(("bad point '" + p + "'").c_str());
        Times t = bench_point(M, K, N, s, samples, seconds);
        std::printf("%d,%d,%d,%g,%.9g,%.9g\n", M, K, N, s, t.dense, t.csr);
        std::fflush(stdout);
    }
    return 0;
}
