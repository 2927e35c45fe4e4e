// `make bench`: throughput of our training and inference steps, measured side by side in one run
// with the PyTorch reference (experiments/reference/torch_bench.py, when python3-torch is installed)
// on the same architecture, batch and thread count. PyTorch runs twice: "tuned" (glibc malloc kept
// from returning memory to the OS, OpenBLAS on one thread, the same OpenBLAS core as ours) and "as
// shipped". Prints a table and writes CSV. Numbers are ratios of runs made minutes apart on a shared
// machine; rerun to see the spread.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "experiments/args.hpp"
#include "experiments/bench_sparse.hpp"
#include "nn/alloc.hpp"
#include "nn/blas.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/ops.hpp"
#include "nn/optim.hpp"
#include "nn/threads.hpp"

#ifndef SECATEURS_SOURCE_DIR
#define SECATEURS_SOURCE_DIR "."
#endif

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Timing {
    double per_second = 0;     // items per second
    double faults_per_step = 0;
};

// Runs `step` for warm-up, then for at least `seconds` (and 10 steps); items per call = `items`.
Timing measure(const std::function<void()>& step, int64_t items, double seconds) {
    for (int i = 0; i < 10; i++) step();
    uint64_t f0 = nn::page_faults_minor();
    int64_t n = 0;
    double t0 = now(), dt = 0;
    do {
        step();
        n++;
        dt = now() - t0;
    } while (dt < seconds || n < 10);
    Timing t;
    t.per_second = double(n * items) / dt;
    t.faults_per_step = double(nn::page_faults_minor() - f0) / double(n);
    return t;
}

Timing bench_model(const std::string& spec, const std::string& mode, int64_t batch, double seconds) {
    auto model = nn::make_model(spec, 1);
    nn::Rng rng(2);
    nn::Tensor x = nn::Tensor::empty({batch, 1, 28, 28});
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = rng.normal();
    nn::IntTensor y(nn::Shape{batch});
    for (auto& v : y.values) v = int64_t(rng.below(10));
    if (mode == "train") {
        model->train();
        nn::SGD opt(model->named_parameters(), nn::SGDOptions{0.01f, 0.9f, 0.0f, 0.0f, false});
        return measure(
            [&] {
                opt.zero_grad();
                nn::Tensor loss = nn::cross_entropy(model->forward(x), y);
                loss.backward();
                opt.step();
            },
            batch, seconds);
    }
    model->eval();
    return measure(
        [&] {
            nn::NoGradGuard ng;
            model->forward(x);
        },
        batch, seconds);
}

// Runs the PyTorch reference; returns items/s or a negative value when it is unavailable.
double torch_reference(const std::string& model, const std::string& mode, int threads, int64_t batch, double seconds,
                       bool tuned) {
    std::string env = "OMP_NUM_THREADS=" + std::to_string(threads);
    // "As shipped" gets this machine's own environment: undo our OpenBLAS core choice if we made it.
    if (!tuned && std::getenv("SECATEURS_BLAS_REEXEC")) env = "-u OPENBLAS_CORETYPE " + env;
    if (tuned) {
        env += " OPENBLAS_NUM_THREADS=1 GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296";
        env += " OPENBLAS_CORETYPE=" + nn::blas_core_name();
    }
    std::string cmd = "env " + env + " /usr/bin/python3 " SECATEURS_SOURCE_DIR "/experiments/reference/torch_bench.py" +
                      " --model " + model + " --mode " + mode + " --threads " + std::to_string(threads) + " --batch " +
                      std::to_string(batch) + " --seconds " + std::to_string(seconds) + " 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return -1;
    char line[256] = {};
    std::string last;
    while (std::fgets(line, sizeof line, p)) last = line;
    int status = pclose(p);
    if (status != 0 || last.empty()) return -1;
    size_t comma = last.rfind(',');
    return comma == std::string::npos ? -1 : std::atof(last.c_str() + comma + 1);
}

bool torch_available() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

}  // namespace

int main(int argc, char** argv) {
    nn::select_blas_core(argv);
    nn::set_num_threads(1);
    std::string models = "lenet300", out = "runs/bench", torch = "auto", suite = "all";
    experiments::SparseBenchConfig sparse_cfg;
    int max_threads = 2;
    int64_t batch = 128;
    double seconds = 3.0;
    experiments::Args args("bench", "Training and inference throughput, side by side with PyTorch when installed.");
    args.add("models", &models, "comma-separated model specs")
        .add("batch", &batch, "batch size")
        .add("threads", &max_threads, "measure 1 .. this many threads")
        .add("seconds", &seconds, "measuring time per point")
        .add("torch", &torch, "auto (when installed), on or off")
        .add("out", &out, "directory for bench.csv and bench_sparse.csv")
        .add("suite", &suite, "models (training/inference throughput), sparse (sparse kernels), or all")
        .add("sparse-shapes", &sparse_cfg.shapes, "sparse suite: weight shapes MxK")
        .add("sparse-batches", &sparse_cfg.batches, "sparse suite: batch widths N of the fully connected shapes")
        .add("sparse-conv-shapes", &sparse_cfg.conv_shapes, "sparse suite: shapes that stand for im2col conv layers")
        .add("sparse-conv-batches", &sparse_cfg.conv_batches, "sparse suite: N of the conv shapes (positions x images)")
        .add("sparsities", &sparse_cfg.sparsities, "sparse suite: fractions of zeros")
        .add("variants", &sparse_cfg.variants, "sparse suite: all registry variants, or best")
        .add("samples", &sparse_cfg.samples, "sparse suite: interleaved samples per column (the fastest is kept)")
        .add("sample-seconds", &sparse_cfg.seconds, "sparse suite: minimum time of one sample")
        .add("reference", &sparse_cfg.reference, "sparse suite: also time the scalar reference (1 thread)")
        .add("e2e", &sparse_cfg.e2e, "sparse suite: end-to-end pruned lenet300 inference");
    try {
        if (!args.parse(argc, argv)) return 0;
        ENSURE(suite == "all" || suite == "models" || suite == "sparse", "bench: --suite must be models, sparse or all, got '",
               suite, "'");
        if (suite == "sparse" || suite == "all") {
            sparse_cfg.max_threads = max_threads;
            sparse_cfg.torch = torch;
            sparse_cfg.out = out;
            experiments::run_sparse_bench(sparse_cfg);
            if (suite == "sparse") return 0;
            std::printf("\n");
        }
        bool use_torch = torch == "on" || (torch == "auto" && torch_available());
        nn::io::make_dirs(out);
        std::string csv = "model,mode,threads,batch,ours_per_s,torch_tuned_per_s,torch_shipped_per_s,ratio_tuned,faults_per_step\n";
        std::printf("OpenBLAS core: %s; PyTorch reference: %s\n\n", nn::blas_core_name().c_str(),
                    use_torch ? "yes" : "no (python3-torch not installed)");
        std::printf("%-10s %-6s %3s %6s %12s %12s %12s %7s %8s\n", "model", "mode", "thr", "batch", "ours img/s",
                    "torch tuned", "torch shipped", "ratio", "faults");
        std::vector<std::string> specs;
        for (size_t b = 0, e; b <= models.size(); b = e + 1) {
            e = models.find(',', b);
            if (e == std::string::npos) e = models.size();
            if (e > b) specs.push_back(models.substr(b, e - b));
        }
        for (const std::string& spec : specs)
            for (const char* mode : {"train", "infer"})
                for (int threads = 1; threads <= max_threads; threads++) {
                    nn::set_num_threads(threads);
                    Timing ours = bench_model(spec, mode, batch, seconds);
                    double tuned = use_torch ? torch_reference(spec, mode, threads, batch, seconds, true) : -1;
                    double shipped = use_torch ? torch_reference(spec, mode, threads, batch, seconds, false) : -1;
                    double ratio = tuned > 0 ? ours.per_second / tuned : 0;
                    std::printf("%-10s %-6s %3d %6lld %12.0f %12.0f %12.0f %6.2fx %8.2f\n", spec.c_str(), mode, threads,
                                (long long)batch, ours.per_second, tuned, shipped, ratio, ours.faults_per_step);
                    std::fflush(stdout);
                    csv += nn::str_cat(spec, ",", mode, ",", threads, ",", batch, ",", ours.per_second, ",", tuned, ",",
                                       shipped, ",", ratio, ",", ours.faults_per_step, "\n");
                }
        nn::io::write_text_atomic(nn::io::join(out, "bench.csv"), csv);
        std::printf("\nwrote %s\n", nn::io::join(out, "bench.csv").c_str());
    } catch (const nn::Error& e) {
        std::fprintf(stderr, "bench: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
