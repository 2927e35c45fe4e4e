// bench --suite sparse. Every timing is the fastest of interleaved samples (dense, reference and each
// variant take turns), so a burst of load on this shared machine hits all columns alike; speedups are
// ratios of those times to the faster of the two dense layouts.
#include "experiments/bench_sparse.hpp"
#include "experiments/thin_tools.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>

#include "nn/blas.hpp"
#include "nn/check.hpp"
#include "nn/clock.hpp"
#include "nn/io.hpp"
#include "nn/kernels.hpp"
#include "nn/models.hpp"
#include "nn/ops.hpp"
#include "nn/rng.hpp"
#include "nn/threads.hpp"
#include "sparse/csr.hpp"
#include "sparse/kernels.hpp"
#include "sparse/modules.hpp"

#ifndef SECATEURS_SOURCE_DIR
#define SECATEURS_SOURCE_DIR "."
#endif

namespace experiments {
namespace {

namespace sk = sparse::kernels;

std::vector<double> parse_doubles(const std::string& s, const char* what) {
    std::vector<double> out;
    for (auto& p : nn::io::split_list(s, ',')) {
        char* end = nullptr;
        double v = std::strtod(p.c_str(), &end);
        ENSURE(end && *end == 0, "bench: --", what, " expects numbers separated by commas, got '", s, "'");
        out.push_back(v);
    }
    return out;
}

std::vector<std::pair<int64_t, int64_t>> parse_shapes(const std::string& s) {
    std::vector<std::pair<int64_t, int64_t>> out;
    for (auto& p : nn::io::split_list(s, ',')) {
        auto mk = nn::io::split_list(p, 'x');
        ENSURE(mk.size() == 2, "bench: shape '", p, "' is not MxK");
        out.emplace_back(std::atoll(mk[0].c_str()), std::atoll(mk[1].c_str()));
        ENSURE(out.back().first > 0 && out.back().second > 0, "bench: shape '", p, "' needs positive sizes");
    }
    return out;
}

// Mean seconds per call over at least `min_seconds` (one call at least).
double sample(const std::function<void()>& fn, double min_seconds) {
    int64_t n = 0;
    double t0 = benchmark_seconds(), dt = 0;
    do {
        fn();
        n++;
        dt = benchmark_seconds() - t0;
    } while (dt < min_seconds);
    return dt / double(n);
}

// The fastest sample: on a shared machine every disturbance only adds time, so the minimum of
// interleaved samples is the least disturbed estimate for each column alike.
double best_of(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

struct Column {
    std::string name;
    std::function<void()> fn;
    int samples;
    std::vector<double> times;
};

// Times the columns in turns: sample i of every column before sample i + 1 of any.
void time_interleaved(std::vector<Column>& cols, int samples, double min_seconds) {
    for (auto& c : cols) c.fn();  // warm-up (first touch, caches)
    for (int s = 0; s < samples; s++)
        for (auto& c : cols)
            if (s < c.samples) c.times.push_back(sample(c.fn, min_seconds));
}

// A random [M, K] pattern with the given sparsity: exactly round((1 - s) M K) entries, chosen by a
// partial Fisher-Yates shuffle so every row gets its binomial share, values N(0, 1).
nn::Tensor random_weight(int64_t M, int64_t K, double sparsity, uint64_t seed) {
    nn::Rng rng(seed);
    nn::Tensor w = nn::Tensor::zeros({M, K});
    int64_t n = M * K, keep = int64_t(std::llround((1.0 - sparsity) * double(n)));
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) idx[size_t(i)] = i;
    for (int64_t i = 0; i < keep; i++) {
        int64_t j = i + int64_t(rng.below(uint64_t(n - i)));
        std::swap(idx[size_t(i)], idx[size_t(j)]);
        w.data()[idx[size_t(i)]] = rng.normal();
    }
    return w;
}

nn::Tensor random_tensor(const nn::Shape& s, uint64_t seed) {
    nn::Rng rng(seed);
    nn::Tensor t = nn::Tensor::empty(s);
    for (int64_t i = 0; i < t.numel(); i++) t.data()[i] = rng.normal();
    return t;
}

struct Point {
    int threads;
    int64_t M, K, N;
    double sparsity;
};

// A reference implementation side by side: `command` (which takes --threads and --points and prints
// M,K,N,sparsity,dense_seconds,csr_seconds per point) on the points of one thread count; returns
// "M,K,N,sparsity" -> (dense seconds, csr seconds).
using RefTimes = std::map<std::string, std::pair<double, double>>;
RefTimes reference_points(const std::string& command, const std::vector<Point>& pts, int threads) {
    RefTimes out;
    std::string list;
    for (auto& p : pts)
        if (p.threads == threads)
            list += nn::str_cat(list.empty() ? "" : ";", p.M, ",", p.K, ",", p.N, ",", p.sparsity);
    if (list.empty()) return out;
    std::string cmd = "env OMP_NUM_THREADS=" + std::to_string(threads) + " OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=" +
                      nn::blas_core_name() + " " + command + " --threads " + std::to_string(threads) + " --points '" +
                      list + "' 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char line[512];
    while (std::fgets(line, sizeof line, p)) {
        auto f = nn::io::split_list(std::string(line), ',');
        if (f.size() < 6) continue;
        std::string key = f[0] + "," + f[1] + "," + f[2] + "," + nn::str_cat(std::atof(f[3].c_str()));
        out[key] = {std::atof(f[4].c_str()), std::atof(f[5].c_str())};
    }
    pclose(p);
    return out;
}

// The references: torch.sparse (experiments/reference/torch_sparse_bench.py, with Debian's
// python3-torch) and Eigen (experiments/reference/eigen_sparse_bench.cpp, built into the output
// directory, with libeigen3-dev).
struct Reference {
    std::string name;     // column prefix: torch, eigen
    std::string command;  // without --threads and --points
    std::map<int, RefTimes> times;  // per thread count
};

// Magnitude pruning, just enough for the end-to-end benchmarks: the `sparsity` fraction of smallest
// |w| is zeroed (ties broken by position); returns the mask. For a model, every weight of rank >= 2.
nn::Tensor prune_magnitude(const nn::Tensor& w, double sparsity) {
    std::vector<std::pair<float, int64_t>> order(size_t(w.numel()));
    for (int64_t i = 0; i < w.numel(); i++) order[size_t(i)] = {std::fabs(w.data()[i]), i};
    int64_t n_prune = int64_t(std::llround(sparsity * double(w.numel())));
    std::nth_element(order.begin(), order.begin() + n_prune, order.end());
    nn::Tensor mask = nn::Tensor::ones(w.shape());
    for (int64_t i = 0; i < n_prune; i++) mask.data()[order[size_t(i)].second] = 0.0f;
    for (int64_t i = 0; i < w.numel(); i++) w.data()[i] *= mask.data()[i];
    return mask;
}

std::map<std::string, nn::Tensor> prune_magnitude(nn::Module& model, double sparsity) {
    std::map<std::string, nn::Tensor> masks;
    nn::NoGradGuard ng;
    for (auto& [name, w] : model.named_parameters())
        if (w.ndim() >= 2) masks[name] = prune_magnitude(w, sparsity);
    return masks;
}

struct E2E {
    double dense_seconds = 0, sparse_seconds = 0, max_rel_diff = 0;
    std::string layers;
};

// A zoo model with per-layer magnitude masks at `sparsity`: our dense model against the same weights
// compiled to sparse layers (compile() decides per layer by its crossover), batch `batch`, inference
// in eval mode under NoGradGuard.
E2E bench_model(const std::string& spec, double sparsity, int64_t batch, int samples, double min_seconds,
                double max_conv_density) {
    auto dense = nn::make_model(spec, 1), compiled = nn::make_model(spec, 1);
    auto masks = prune_magnitude(*dense, sparsity);
    prune_magnitude(*compiled, sparsity);
    sparse::CompileOptions opt;
    opt.masks = masks;
    if (max_conv_density >= 0) opt.max_conv_density = max_conv_density;
    E2E r;
    int n_sparse = 0, n_layers = 0;
    for (auto& d : sparse::compile(*compiled, opt)) {
        n_layers++;
        n_sparse += d.sparse;
        if (!d.sparse) r.layers += nn::str_cat(r.layers.empty() ? "dense: " : ", ", d.name);
    }
    r.layers = nn::str_cat(n_sparse, "/", n_layers, " layers sparse", r.layers.empty() ? "" : "; ", r.layers);
    dense->eval();
    compiled->eval();
    nn::Tensor x = random_tensor({batch, 1, 28, 28}, 9);
    nn::NoGradGuard ng;
    nn::Tensor yd = dense->forward(x), ys = compiled->forward(x);
    double scale = 0;
    for (float v : yd.to_vector()) scale = std::max(scale, double(std::fabs(v)));
    for (int64_t i = 0; i < yd.numel(); i++)
        r.max_rel_diff = std::max(r.max_rel_diff, std::fabs(double(yd.data()[i]) - double(ys.data()[i])) / scale);
    std::vector<Column> cols;
    cols.push_back({"dense", [&] { dense->forward(x); }, samples, {}});
    cols.push_back({"sparse", [&] { compiled->forward(x); }, samples, {}});
    time_interleaved(cols, samples, min_seconds);
    r.dense_seconds = best_of(cols[0].times);
    r.sparse_seconds = best_of(cols[1].times);
    return r;
}

// One training step of a convolution layer: forward, then backward of sum(y) into x, the weight and
// the bias. vgg's 3x3 layers (channels in, input size, channels out; stride 1, padding 1).
struct ConvLayerShape {
    int64_t C, H, OC;
};
constexpr ConvLayerShape kVggConvs[] = {{1, 28, 32}, {32, 28, 32}, {32, 14, 64}, {64, 14, 64}, {64, 7, 128}, {128, 7, 128}};

// Sums, over kVggConvs, the fastest training step of the dense layer (nn::conv2d on the masked weight)
// and of the sparse one (sparse::conv2d on its CSR values), at `sparsity` by magnitude.
std::pair<double, double> bench_conv_train(double sparsity, int64_t batch, int samples, double min_seconds) {
    double dense = 0, sparse_total = 0;
    for (const ConvLayerShape& c : kVggConvs) {
        nn::Tensor w = random_tensor({c.OC, c.C, 3, 3}, uint64_t(c.C * 131 + c.OC));
        nn::Tensor mask = prune_magnitude(w, sparsity);
        nn::Tensor b = nn::Tensor::zeros({c.OC});
        auto layer = sparse::SparseConv2d::from_dense(w, b, 1, 1, mask);
        nn::Tensor x = random_tensor({batch, c.C, c.H, c.H}, 17);
        x.requires_grad_(true);
        w.requires_grad_(true);
        b.requires_grad_(true);
        auto step = [&](const nn::Tensor& y) {
            nn::sum(y).backward();
            x.zero_grad();
        };
        std::vector<Column> cols;
        cols.push_back({"dense", [&] { step(nn::conv2d(x, w, b, 1, 1)); }, samples, {}});
        cols.push_back({"sparse", [&] { step(layer->forward(x)); }, samples, {}});
        time_interleaved(cols, samples, min_seconds);
        dense += best_of(cols[0].times);
        sparse_total += best_of(cols[1].times);
    }
    return {dense, sparse_total};
}

bool torch_available() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }
bool eigen_available() { return std::system("test -f /usr/include/eigen3/Eigen/Sparse && command -v g++ >/dev/null") == 0; }

}  // namespace

int run_sparse_bench(const SparseBenchConfig& cfg) {
    auto shapes = parse_shapes(cfg.shapes), conv_shapes = parse_shapes(cfg.conv_shapes);
    auto batches = parse_doubles(cfg.batches, "batches"), conv_batches = parse_doubles(cfg.conv_batches, "conv-batches");
    auto sparsities = parse_doubles(cfg.sparsities, "sparsities");
    ENSURE(cfg.variants == "all" || cfg.variants == "best", "bench: --variants must be all or best, got '",
           cfg.variants, "'");
    ENSURE(cfg.torch == "auto" || cfg.torch == "on" || cfg.torch == "off", "bench: --torch must be auto, on or off, got '",
           cfg.torch, "'");
    ENSURE(cfg.eigen == "auto" || cfg.eigen == "on" || cfg.eigen == "off", "bench: --eigen must be auto, on or off, got '",
           cfg.eigen, "'");
    bool use_torch = cfg.torch == "on" || (cfg.torch == "auto" && torch_available());
    bool use_eigen = cfg.eigen == "on" || (cfg.eigen == "auto" && eigen_available());
    std::vector<Reference> refs;
    if (use_torch)
        refs.push_back({"torch", "/usr/bin/python3 " SECATEURS_SOURCE_DIR "/experiments/reference/torch_sparse_bench.py", {}});
    ENSURE(!use_eigen || cfg.out.find('\'') == std::string::npos, "bench: --out '", cfg.out,
           "' has a quote, which the Eigen reference's command line cannot take (--eigen off to skip it)");
    if (use_eigen)
        refs.push_back({"eigen", "sh " SECATEURS_SOURCE_DIR "/experiments/reference/eigen_sparse_bench.sh '" + cfg.out + "'", {}});
    nn::io::make_dirs(cfg.out);

    std::vector<Point> points;
    for (int t = 1; t <= cfg.max_threads && cfg.kernels; t++)
        for (auto [M, K] : shapes) {
            bool conv = std::find(conv_shapes.begin(), conv_shapes.end(), std::make_pair(M, K)) != conv_shapes.end();
            for (double N : conv ? conv_batches : batches)
                for (double s : sparsities) points.push_back({t, M, K, int64_t(N), s});
        }

    std::printf("sparse kernels: OpenBLAS core %s; ISAs:%s%s; torch.sparse: %s; Eigen: %s\n",
                nn::blas_core_description().c_str(), sk::isa_available(sk::Isa::avx2) ? " avx2" : "",
                sk::isa_available(sk::Isa::avx512) ? " avx512" : "", use_torch ? "yes" : "no", use_eigen ? "yes" : "no");
    std::printf("speedup = dense time / time, dense = the faster of OpenBLAS W*X and x*W^T (nn::Linear's product) on the\n"
                "zero-filled matrix; ideal = dense x density; bound (1 thread, N a multiple of the widest tile) = dense /\n"
                "the time of only loading, for every entry, its row of X tile by tile (sparse::kernels::stream_x_rows:\n"
                "what a loop reading X row by row cannot beat; kernels that keep a slice of X in L1 can); fastest of\n"
                "%d interleaved samples (1 thread: thread CPU time; 2 threads: wall time)\n", cfg.samples);

    std::string csv = "threads,M,K,N,sparsity,column,seconds,speedup\n";
    struct Best {
        double speedup = 0;
        std::string name;
    };
    std::map<std::string, Best> best_by_point;  // "t,M,K,N,s" -> best sparse column
    std::map<std::string, double> dense_by_point;
    int last_threads = 0;
    std::string last_group;
    for (const Point& pt : points) {
        if (pt.threads != last_threads) {
            nn::set_num_threads(pt.threads);
            last_threads = pt.threads;
            for (Reference& r : refs) r.times[pt.threads] = reference_points(r.command, points, pt.threads);
        }
        const int64_t M = pt.M, K = pt.K, N = pt.N;
        nn::Tensor W = random_weight(M, K, pt.sparsity, uint64_t(M * 7919 + K * 31) + uint64_t(pt.sparsity * 1000));
        nn::Tensor X = random_tensor({K, N}, 5), Xt = X.transpose(0, 1).contiguous();
        nn::Tensor Y = nn::Tensor::empty({M, N}), Yt = nn::Tensor::empty({N, M});
        sparse::Csr W32 = sparse::from_dense(W);
        sparse::Csr16 W16 = K <= sparse::kCsr16MaxCols ? sparse::to_csr16(W32) : sparse::Csr16();
        sk::Operands p32, p16;
        p32.w = sk::ref(W32);
        p16.w = sk::ref(W16);
        for (sk::Operands* p : {&p32, &p16}) {
            p->N = N;
            p->a = X.data();
            p->lda = N;
            p->out = Y.data();
            p->ldo = N;
        }
        std::vector<Column> cols;
        cols.push_back({"dense_WX", [&] { nn::kernels::gemm(false, false, M, N, K, 1.0f, W.data(), K, X.data(), N, 0.0f, Y.data(), N); }, cfg.samples, {}});
        // x W^T exactly as nn::Linear computes it (sgemv for one row, nn's few-row kernel for 2 to 32).
        cols.push_back({"dense_xWt", [&] { nn::kernels::linear_forward(Yt.data(), Xt.data(), W.data(), nullptr, N, K, M); }, cfg.samples, {}});
        sk::Op op = N == 1 ? sk::Op::spmv : sk::Op::spmm;
        // The bound column (one thread, N a multiple of the widest tile): only the loads of X's row for
        // every entry (stream_x_rows), tile by tile from a contiguous panel as the nr kernels read X.
        const int64_t tile = sk::widest_tile();
        const bool bound = pt.threads == 1 && tile > 0 && N % tile == 0;
        nn::Tensor panel = random_tensor({K, std::max<int64_t>(tile, 1)}, 6), sums = nn::Tensor::empty({std::max<int64_t>(tile, 1)});
        sk::Operands pb = p32;
        pb.N = tile, pb.a = panel.data(), pb.lda = tile, pb.out = sums.data();
        if (bound)
            cols.push_back({"x_rows_bound", [&] { for (int64_t t = 0; t < N / tile; t++) sk::stream_x_rows(pb); }, cfg.samples, {}});
        const size_t first_kernel = cols.size();
        if (cfg.reference && pt.threads == 1) {
            const sk::Kernel& r = sk::reference(op, sk::IndexWidth::i32);
            cols.push_back({r.name, [&, run = r.run] { run(p32); }, 1, {}});
        }
        // The lockstep variants run over a plan built here once, as compile() builds it for a layer (the
        // conversion, like the CSR's, is not timed).
        sk::LockstepPlan plan = op == sk::Op::spmm ? sk::build_lockstep(p32.w) : sk::LockstepPlan();
        sk::Operands p32l = p32, p16l = p16;
        p32l.lockstep = p16l.lockstep = &plan;
        for (const sk::Kernel& k : sk::registry()) {
            if (k.op != op || k.isa == sk::Isa::scalar || !sk::isa_available(k.isa)) continue;
            if (k.index == sk::IndexWidth::u16 && K > sparse::kCsr16MaxCols) continue;
            const bool lockstep = std::strstr(k.name, "_lockstep") != nullptr;
            // "best": what run() takes, the widest nr kernel, or the lockstep one where a layer gets a plan.
            const bool taken = lockstep ? &k == sk::lockstep_variant(k.index) && sk::lockstep_pays(p32.w)
                                        : &k == &sk::best(op, k.index, N);
            if (cfg.variants == "best" && !taken) continue;
            const sk::Operands* p = k.index == sk::IndexWidth::i32 ? (lockstep ? &p32l : &p32) : (lockstep ? &p16l : &p16);
            cols.push_back({k.name, [p, run = k.run] { run(*p); }, cfg.samples, {}});
        }
        time_interleaved(cols, cfg.samples, cfg.seconds);
        double dense = std::min(best_of(cols[0].times), best_of(cols[1].times));
        std::string key = nn::str_cat(pt.threads, ",", M, ",", K, ",", N, ",", pt.sparsity);
        dense_by_point[key] = dense;
        std::string group = nn::str_cat(pt.threads, " ", M, "x", K, " N=", N);
        if (group != last_group) {
            std::printf("\n== %d thread(s), W %lldx%lld, N = %lld: dense %.1f us (W*X %.1f, x*W^T %.1f)\n", pt.threads,
                        (long long)M, (long long)K, (long long)N, dense * 1e6, best_of(cols[0].times) * 1e6,
                        best_of(cols[1].times) * 1e6);
            std::printf("%-8s %7s %7s", "sparsity", "ideal", "bound");
            for (size_t c = first_kernel; c < cols.size(); c++) {
                std::string n = cols[c].name;
                n = n.substr(n.find('_') + 1);  // drop the op
                std::printf(" %17s", n.c_str());
            }
            for (const Reference& r : refs) std::printf(" %10s %10s", (r.name + "_csr").c_str(), ("vs_" + r.name).c_str());
            std::printf("\n");
            last_group = group;
        }
        double ideal = 1.0 / std::max(1e-9, 1.0 - pt.sparsity);
        std::printf("%-8.3g %6.1fx", pt.sparsity, ideal);
        if (bound) std::printf(" %6.1fx", dense / best_of(cols[2].times));
        else std::printf(" %7s", "-");
        Best& b = best_by_point[key];
        for (size_t c = 0; c < cols.size(); c++) {
            double t = best_of(cols[c].times), sp = dense / t;
            csv += nn::str_cat(key, ",", cols[c].name, ",", t, ",", sp, "\n");
            if (c < first_kernel) continue;
            std::printf(" %16.2fx", sp);
            if (std::string(cols[c].name).find("scalar") == std::string::npos && sp > b.speedup) b = {sp, cols[c].name};
        }
        csv += nn::str_cat(key, ",ideal,", dense / ideal, ",", ideal, "\n");
        // Each reference's CSR product over our dense baseline, and how many times faster our best variant is.
        for (Reference& r : refs) {
            auto it = r.times[pt.threads].find(nn::str_cat(M, ",", K, ",", N, ",", pt.sparsity));
            if (it == r.times[pt.threads].end()) {
                std::printf(" %10s %10s", "-", "-");
                continue;
            }
            double ours = dense / b.speedup;
            std::printf(" %9.2fx %9.1fx", dense / it->second.second, it->second.second / ours);
            csv += nn::str_cat(key, ",", r.name, "_dense,", it->second.first, ",", dense / it->second.first, "\n");
            csv += nn::str_cat(key, ",", r.name, "_csr,", it->second.second, ",", dense / it->second.second, "\n");
        }
        std::printf("\n");
        std::fflush(stdout);
    }

    // Where sparse starts to win, and the targets of DESIGN.md.
    std::printf("\n== crossover: lowest sparsity (of those measured) from which the best variant beats dense\n");
    std::string done;
    for (const Point& pt : points) {
        std::string g = nn::str_cat(pt.threads, ",", pt.M, ",", pt.K, ",", pt.N);
        if (done.find("|" + g + "|") != std::string::npos) continue;
        done += "|" + g + "|";
        double cross = -1;
        for (double s : sparsities) {
            bool wins_from_here = true;
            for (double s2 : sparsities)
                if (s2 >= s && best_by_point[g + "," + nn::str_cat(s2)].speedup <= 1.0) wins_from_here = false;
            if (wins_from_here) {
                cross = s;
                break;
            }
        }
        std::printf("  %d thread(s) %5lldx%-5lld N=%-5lld %s\n", pt.threads, (long long)pt.M, (long long)pt.K,
                    (long long)pt.N, cross < 0 ? "never (in the measured range)" : nn::str_cat("from ", cross).c_str());
        csv += nn::str_cat(g, ",crossover,", cross, ",0\n");
    }

    if (cfg.kernels) {
        std::printf("\n== memory (bytes relative to dense float32)\n%-10s %8s %10s %10s\n", "shape", "sparsity", "csr32",
                    "csr16");
        for (auto [M, K] : shapes)
            for (double s : sparsities) {
                int64_t nnz = int64_t(std::llround((1.0 - s) * double(M * K)));
                double d = double(sparse::dense_bytes(M, K));
                std::printf("%5lldx%-5lld %7.2f %9.3fx %9.3fx\n", (long long)M, (long long)K, s,
                            double(sparse::csr_bytes(M, nnz)) / d,
                            K <= sparse::kCsr16MaxCols ? double(sparse::csr16_bytes(M, nnz)) / d : NAN);
            }
    }

    if (cfg.e2e) {
        std::printf("\n== end to end: per-layer magnitude pruning, compiled sparse vs our dense model, inference\n");
        std::vector<std::string> models = nn::io::split_list(cfg.e2e_models, ',');
        auto e2e_sparsities = parse_doubles(cfg.e2e_sparsities, "e2e-sparsities");
        auto e2e_batches = parse_doubles(cfg.e2e_batches, "e2e-batches");
        for (int t = 1; t <= cfg.max_threads; t++) {
            nn::set_num_threads(t);
            for (const std::string& model : models)
                for (double s : e2e_sparsities)
                    for (double bd : e2e_batches) {
                        int64_t B = int64_t(bd);
                        E2E r = bench_model(model, s, B, cfg.samples, std::max(0.05, cfg.seconds * 5),
                                            cfg.e2e_max_conv_density);
                        std::printf("  %d thread(s) %-9s %4.0f %% batch %4lld: dense %10.1f us, sparse %10.1f us: "
                                    "%5.2fx (outputs differ by <= %.2g of max |y|); %s\n",
                                    t, model.c_str(), s * 100, (long long)B, r.dense_seconds * 1e6,
                                    r.sparse_seconds * 1e6, r.dense_seconds / r.sparse_seconds, r.max_rel_diff,
                                    r.layers.c_str());
                        std::fflush(stdout);
                        csv += nn::str_cat(t, ",", model, ",0,", B, ",", s, ",e2e_dense,", r.dense_seconds, ",1\n");
                        csv += nn::str_cat(t, ",", model, ",0,", B, ",", s, ",e2e_sparse,", r.sparse_seconds, ",",
                                           r.dense_seconds / r.sparse_seconds, "\n");
                    }
        }
    }
    if (cfg.conv_train) {
        std::printf("\n== training step of vgg's conv layers (forward + backward, summed over the layers), batch %lld:"
                    " sparse::conv2d vs nn::conv2d on the masked weight\n", (long long)cfg.conv_train_batch);
        auto train_sparsities = parse_doubles(cfg.e2e_sparsities, "e2e-sparsities");
        for (int t = 1; t <= cfg.max_threads; t++) {
            nn::set_num_threads(t);
            for (double s : train_sparsities) {
                auto [dense, sparse_s] = bench_conv_train(s, cfg.conv_train_batch, cfg.samples, std::max(0.05, cfg.seconds * 5));
                std::printf("  %d thread(s) %4.0f %%: dense %8.2f ms, sparse %8.2f ms: %5.2fx\n", t, s * 100, dense * 1e3,
                            sparse_s * 1e3, dense / sparse_s);
                std::fflush(stdout);
                csv += nn::str_cat(t, ",vgg-convs,0,", cfg.conv_train_batch, ",", s, ",train_dense,", dense, ",1\n");
                csv += nn::str_cat(t, ",vgg-convs,0,", cfg.conv_train_batch, ",", s, ",train_sparse,", sparse_s, ",",
                                   dense / sparse_s, "\n");
            }
        }
    }
    nn::io::write_text_atomic(nn::io::join(cfg.out, "bench_sparse.csv"), csv);
    std::printf("\nwrote %s\n", nn::io::join(cfg.out, "bench_sparse.csv").c_str());
    return 0;
}

}  // namespace experiments
