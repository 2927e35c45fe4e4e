// `make bench`: throughput of our training and inference steps and batch-1 latency, measured side by
// side in one run with the PyTorch reference (experiments/reference/torch_bench.py, when
// python3-torch is installed) on the same architecture, batch and thread count; then how close our
// convolution layers come to raw OpenBLAS sgemm on their im2col shapes. PyTorch runs twice: "tuned"
// (glibc malloc kept from returning memory to the OS, OpenBLAS on one thread, the same OpenBLAS core
// as ours) and "as shipped". Every point is measured `--repeat` times, interleaving ours and
// PyTorch's runs, and the median is reported. Besides images per wall-clock second, each side
// reports images per CPU-second of its process: on a machine shared with other work that figure is
// the robust one for single-threaded runs. Prints tables and writes CSV.
#include <cblas.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "experiments/args.hpp"
#include "experiments/bench_sparse.hpp"
#include "experiments/bert_common.hpp"
#include "nn/clock.hpp"
#include "nn/alloc.hpp"
#include "nn/blas.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/kernels.hpp"
#include "nn/models.hpp"
#include "nn/ops.hpp"
#include "nn/optim.hpp"
#include "nn/threads.hpp"
#include "nn/transformer.hpp"

#ifndef SECATEURS_SOURCE_DIR
#define SECATEURS_SOURCE_DIR "."
#endif

namespace {

struct Rate {
    double wall = -1, cpu = -1;  // items per wall-clock second, per CPU-second of this process
    double faults_per_step = 0;
};

// Runs `step` for warm-up, then for at least `seconds` (and 10 steps); items per call = `items`.
Rate measure(const std::function<void()>& step, int64_t items, double seconds) {
    for (int i = 0; i < 10; i++) step();
    uint64_t f0 = nn::page_faults_minor();
    int64_t n = 0;
    double t0 = nn::wall_seconds(), c0 = nn::process_cpu_seconds(), dt = 0;
    do {
        step();
        n++;
        dt = nn::wall_seconds() - t0;
    } while (dt < seconds || n < 10);
    Rate r;
    r.wall = double(n * items) / dt;
    r.cpu = double(n * items) / std::max(nn::process_cpu_seconds() - c0, 1e-9);
    r.faults_per_step = double(nn::page_faults_minor() - f0) / double(n);
    return r;
}

// bert-mlm: tokens per second of a step on [batch, seq] random words (no padding) with 15 % of the
// positions selected for prediction; the vocabulary projection runs on those rows only.
Rate bench_bert(const std::string& spec, const std::string& mode, int64_t batch, double seconds) {
    auto model = nn::make_model(spec, 1);
    auto& mlm = dynamic_cast<nn::BertForMaskedLM&>(*model);
    const nn::BertConfig& c = mlm.bert->config;
    const int64_t T = c.max_position;
    experiments::MlmBatch data = experiments::random_mlm_batch(c.vocab_size, batch, T, 2);
    const nn::IntTensor &ids = data.ids, &pos = data.positions, &lab = data.labels;
    if (mode == "train") {
        model->train();
        nn::AdamOptions o;
        o.lr = 1e-4f;
        o.weight_decay = 0.01f;
        o.decoupled = true;
        nn::Adam opt(model->named_parameters(), o);
        return measure(
            [&] {
                opt.zero_grad();
                nn::Tensor loss = nn::cross_entropy(mlm.forward_positions(ids, pos), lab);
                loss.backward();
                opt.step();
            },
            batch * T, seconds);
    }
    model->eval();
    return measure(
        [&] {
            nn::NoGradGuard ng;
            mlm.forward_positions(ids, pos);
        },
        batch * T, seconds);
}

// mode: "train" (SGD step at `batch`; AdamW for bert-mlm), "infer" (forward without gradients at `batch`).
Rate bench_model(const std::string& spec, const std::string& mode, int64_t batch, double seconds) {
    if (nn::ModelSpec::parse(spec).name == "bert-mlm") return bench_bert(spec, mode, batch, seconds);
    auto model = nn::make_model(spec, 1);
    nn::Rng rng(2);
    nn::Tensor x = nn::Tensor::empty({batch, 1, 28, 28});
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = rng.normal();
    nn::IntTensor y(nn::Shape{batch});
    for (auto& v : y.values) v = int64_t(rng.below(10));
    if (mode == "train") {
        model->train();
        nn::SGD opt(model->named_parameters(), nn::SGDOptions{0.01f, 0.9f, 0.0f, 0.0f, false});
        // as in nn::Trainer::fit
        bool previous = nn::set_flush_denormals(true);
        Rate r = measure(
            [&] {
                opt.zero_grad();
                nn::Tensor loss = nn::cross_entropy(model->forward(x), y);
                loss.backward();
                opt.step();
            },
            batch, seconds);
        nn::set_flush_denormals(previous);
        return r;
    }
    model->eval();
    return measure(
        [&] {
            nn::NoGradGuard ng;
            model->forward(x);
        },
        batch, seconds);
}

// Runs the PyTorch reference; negative rates when it is unavailable or failed.
Rate torch_reference(const std::string& spec, const std::string& mode, int threads, int64_t batch, double seconds,
                     bool tuned, const std::string& bert_head = "full") {
    nn::ModelSpec ms = nn::ModelSpec::parse(spec);
    std::string model = ms.name;
    if (ms.name == "bert-mlm") {  // the reference takes the sizes it varies as flags
        nn::BertConfig c = nn::BertConfig::from_spec(ms);
        model = "bert --vocab " + std::to_string(c.vocab_size) + " --seq " + std::to_string(c.max_position) +
                " --head " + bert_head;
    }
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
    Rate r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char line[256] = {};
    std::string last;
    while (std::fgets(line, sizeof line, p)) last = line;
    int status = pclose(p);
    if (status != 0 || last.empty()) return r;
    // model,mode,threads,batch,wall,cpu
    std::vector<std::string> f = nn::io::split(last, ',');
    if (f.size() >= 6) r.wall = std::atof(f[4].c_str()), r.cpu = std::atof(f[5].c_str());
    return r;
}

bool torch_available() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

double median(std::vector<double> v) {
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// ---- convolution layers against raw sgemm -------------------------------------------------------

struct ConvLayer {
    std::string name;
    nn::Conv2d* conv;
    int64_t C, H, W;  // input of the layer
};

// The convolutions of a zoo model with the input shape each one sees (28x28 images).
std::vector<ConvLayer> conv_layers(nn::Module& m) {
    std::vector<ConvLayer> out;
    auto out_side = [](const nn::Conv2d& c, int64_t s) { return (s + 2 * c.padding - c.kernel_size) / c.stride + 1; };
    if (auto* l = dynamic_cast<nn::LeNet5*>(&m)) {
        out.push_back({"conv1", l->conv1.get(), 1, 28, 28});
        int64_t s = out_side(*l->conv1, 28) / 2;
        out.push_back({"conv2", l->conv2.get(), l->conv1->out_channels, s, s});
    } else if (auto* c = dynamic_cast<nn::ConvNet*>(&m)) {
        int64_t ch = 1, s = 28;
        for (auto& [name, child] : c->features->children()) {
            if (auto* conv = dynamic_cast<nn::Conv2d*>(child.get())) {
                out.push_back({"features." + name, conv, ch, s, s});
                ch = conv->out_channels, s = out_side(*conv, s);
            } else if (dynamic_cast<nn::MaxPool2d*>(child.get())) {
                s /= 2;
            }
        }
    } else if (auto* r = dynamic_cast<nn::ResNet*>(&m)) {
        out.push_back({"conv1", r->conv1.get(), 1, 28, 28});
        int64_t ch = r->conv1->out_channels, s = 28;
        for (size_t li = 0; li < r->layers.size(); li++)
            for (auto& [bname, child] : r->layers[li]->children()) {
                auto* b = dynamic_cast<nn::BasicBlock*>(child.get());
                std::string p = "layer" + std::to_string(li + 1) + "." + bname + ".";
                out.push_back({p + "conv1", b->conv1.get(), ch, s, s});
                int64_t s1 = out_side(*b->conv1, s);
                out.push_back({p + "conv2", b->conv2.get(), b->conv1->out_channels, s1, s1});
                if (b->downsample)
                    out.push_back({p + "downsample.0", dynamic_cast<nn::Conv2d*>(&b->downsample->at(0)), ch, s, s});
                ch = b->conv2->out_channels, s = s1;
            }
    }
    return out;
}

struct ConvEfficiency {
    double ours_fwd_ms, blas_fwd_ms, ours_bwd_ms, blas_bwd_ms;
};

// One layer at batch B on the current thread count: our forward (padding or im2col + gemm + bias +
// ReLU) and backward (dx when C > 1, dw, db) against raw cblas_sgemm on the im2col shapes of every
// image: forward (OC,K)x(K,N); backward dw (OC,N)x(N,K) and dcol (K,OC)x(OC,N).
ConvEfficiency conv_efficiency(const ConvLayer& L, int64_t B, double seconds) {
    const nn::Conv2d& c = *L.conv;
    auto g = nn::kernels::conv_geometry(B, L.C, L.H, L.W, c.out_channels, c.kernel_size, c.kernel_size, c.stride,
                                        c.padding);
    const int64_t M = g.OC, N = g.N(), K = g.K();
    nn::Rng rng(3);
    nn::Tensor x = nn::Tensor::empty({B, L.C, L.H, L.W}), y = nn::Tensor::empty({B, M, g.OH, g.OW});
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = rng.normal();
    nn::Tensor w = c.weight.detach(), bias = nn::Tensor::zeros({M});
    nn::Tensor ws = nn::Tensor::empty({std::max(nn::kernels::conv2d_forward_workspace(g, nn::num_threads()),
                                                nn::kernels::conv2d_backward_workspace(g, nn::num_threads()))});
    nn::Tensor dx = nn::Tensor::zeros(x.shape()), dw = nn::Tensor::zeros(w.shape()), db = nn::Tensor::zeros({M});
    const bool need_dx = L.C > 1;
    auto time_of = [&](const std::function<void()>& f) {
        Rate r = measure(f, 1, seconds);
        return 1000.0 / r.wall;  // ms per call
    };
    ConvEfficiency e{};
    e.ours_fwd_ms = time_of([&] {
        nn::kernels::conv2d_forward(y.data(), x.data(), w.data(), nullptr, bias.data(), g, true, ws.data());
    });
    e.ours_bwd_ms = time_of([&] {
        nn::kernels::conv2d_backward(need_dx ? dx.data() : nullptr, dw.data(), db.data(), y.data(), nullptr, x.data(),
                                     w.data(), g, ws.data());
    });
    std::vector<float> A(size_t(M * K), 0.01f), col(size_t(K * N), 0.02f), C(size_t(M * N)), dwb(size_t(M * K));
    std::vector<float> dcol(size_t(K * N));
    e.blas_fwd_ms = time_of([&] {
        for (int64_t i = 0; i < B; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(M), int(N), int(K), 1.0f, A.data(), int(K),
                        col.data(), int(N), 0.0f, C.data(), int(N));
    });
    e.blas_bwd_ms = time_of([&] {
        for (int64_t i = 0; i < B; i++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(K), int(N), 1.0f, C.data(), int(N),
                        col.data(), int(N), 1.0f, dwb.data(), int(K));
            if (need_dx)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(K), int(N), int(M), 1.0f, A.data(), int(K),
                            C.data(), int(N), 0.0f, dcol.data(), int(N));
        }
    });
    return e;
}

}  // namespace

int main(int argc, char** argv) {
    nn::select_blas_core(argv);
    nn::retain_heap_memory();
    nn::set_num_threads(1);
    std::string models = "lenet300,lenet5,conv4,vgg,resnet20,bert-mlm:vocab=8000", modes = "train,infer,latency", out = "runs/bench";
    std::string torch = "auto", conv_models = "lenet5,conv4,vgg,resnet20", suite = "all";
    experiments::SparseBenchConfig sparse_cfg;
    int max_threads = 2, repeat = 3;
    int64_t batch = 128, text_batch = 32;
    double seconds = 1.5;
    bool winograd = true;
    experiments::Args args("bench", "Training and inference throughput and batch-1 latency, side by side with PyTorch\n"
                                    "when installed; then our conv layers against raw sgemm on their im2col shapes.");
    args.add("models", &models, "comma-separated model specs (a spec's own options continue after commas)")
        .add("modes", &modes, "comma-separated: train, infer (both at --batch), latency (batch 1)")
        .add("batch", &batch, "batch size of train and infer (image models)")
        .add("text-batch", &text_batch, "batch size in sequences (bert-mlm; sequence length from the spec)")
        .add("threads", &max_threads, "measure 1 .. this many threads")
        .add("seconds", &seconds, "measuring time per run")
        .add("repeat", &repeat, "runs per point (interleaved with PyTorch's); the median is reported")
        .add("torch", &torch, "auto (when installed), on or off")
        .add("conv-models", &conv_models, "models whose conv layers are compared with sgemm (empty: skip)")
        .add("winograd", &winograd, "3x3 stride-1 convolutions by Winograd F(2x2,3x3) (false: all direct)")
        .add("out", &out, "directory for bench.csv, conv.csv and bench_sparse.csv")
        .add("suite", &suite, "models (training/inference throughput, conv layers), sparse (sparse kernels), or all")
        .add("sparse-shapes", &sparse_cfg.shapes, "sparse suite: weight shapes MxK")
        .add("sparse-batches", &sparse_cfg.batches, "sparse suite: batch widths N of the fully connected shapes")
        .add("sparse-conv-shapes", &sparse_cfg.conv_shapes, "sparse suite: shapes that stand for im2col conv layers")
        .add("sparse-conv-batches", &sparse_cfg.conv_batches, "sparse suite: N of the conv shapes (positions x images)")
        .add("sparsities", &sparse_cfg.sparsities, "sparse suite: fractions of zeros")
        .add("variants", &sparse_cfg.variants, "sparse suite: all registry variants, or best")
        .add("samples", &sparse_cfg.samples, "sparse suite: interleaved samples per column (the fastest is kept)")
        .add("sample-seconds", &sparse_cfg.seconds, "sparse suite: minimum time of one sample")
        .add("eigen", &sparse_cfg.eigen,
             "sparse suite: Eigen's sparse product side by side: auto (when libeigen3-dev is installed), on or off")
        .add("reference", &sparse_cfg.reference, "sparse suite: also time the scalar reference (1 thread)")
        .add("e2e", &sparse_cfg.e2e, "sparse suite: end-to-end inference of pruned models, compiled vs dense")
        .add("sparse-kernels", &sparse_cfg.kernels, "sparse suite: the kernel sweep (false: end to end only)")
        .add("e2e-models", &sparse_cfg.e2e_models, "sparse suite: models of the end-to-end runs")
        .add("e2e-sparsities", &sparse_cfg.e2e_sparsities, "sparse suite: per-layer magnitude sparsities, end to end")
        .add("e2e-batches", &sparse_cfg.e2e_batches, "sparse suite: batch sizes of the end-to-end runs")
        .add("conv-train", &sparse_cfg.conv_train,
             "sparse suite: training step (forward + backward) of vgg's conv layers, sparse vs dense")
        .add("conv-train-batch", &sparse_cfg.conv_train_batch, "sparse suite: batch of the conv training step")
        .add("e2e-max-conv-density", &sparse_cfg.e2e_max_conv_density,
             "sparse suite: conv layers at or below this density run sparse (< 0: the built-in crossover)");
    try {
        if (!args.parse(argc, argv)) return 0;
        nn::kernels::set_winograd(winograd);
        ENSURE(repeat >= 1 && max_threads >= 1 && batch >= 1, "bench: --repeat, --threads and --batch must be >= 1");
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
        std::printf("OpenBLAS core: %s; PyTorch reference: %s; median of %d runs each\n",
                    nn::blas_core_description().c_str(), use_torch ? "yes" : "no (python3-torch not installed)", repeat);
        std::printf("train/infer: items per second (images at batch %lld, tokens for bert-mlm); latency: ms per image\n"
                    "(batch 1). ratio = ours / PyTorch tuned (>1 is faster for throughput, <1 is faster for latency).\n"
                    "cpu: per CPU-second. bert-mlm: ours projects onto the vocabulary only at the ~15 %% selected\n"
                    "positions; \"tuned\" does it at every position (as transformers' BertForMaskedLM does), \"masked\"\n"
                    "is tuned with the same selection.\n\n",
                    (long long)batch);
        std::printf("%-9s %-7s %3s %10s %10s %10s %7s | %10s %10s %7s | %6s\n", "model", "mode", "thr", "ours",
                    "tuned", "shipped", "ratio", "ours cpu", "tuned cpu", "ratio", "faults");
        std::string csv = "model,mode,threads,batch,ours,torch_tuned,torch_shipped,ratio,ours_cpu,torch_tuned_cpu,"
                          "ratio_cpu,faults_per_step,torch_tuned_masked_head,ratio_masked_head\n";
        for (const std::string& spec : nn::split_model_specs(models))
            for (const std::string& mode : nn::io::split_list(modes, ',')) {
                ENSURE(mode == "train" || mode == "infer" || mode == "latency", "bench: unknown mode '", mode, "'");
                const bool bert = nn::ModelSpec::parse(spec).name == "bert-mlm";
                const bool latency = mode == "latency";
                if (bert && latency) continue;
                const std::string run_mode = latency ? "infer" : mode;
                const int64_t b = latency ? 1 : bert ? text_batch : batch;
                for (int threads = 1; threads <= max_threads; threads++) {
                    std::vector<double> ow, oc, tw, tc, sw, mw, faults;
                    for (int rep = 0; rep < repeat; rep++) {
                        nn::set_num_threads(threads);
                        Rate o = bench_model(spec, run_mode, b, seconds);
                        ow.push_back(o.wall), oc.push_back(o.cpu), faults.push_back(o.faults_per_step);
                        if (use_torch) {
                            Rate t = torch_reference(spec, run_mode, threads, b, seconds, true);
                            Rate s = torch_reference(spec, run_mode, threads, b, seconds, false);
                            tw.push_back(t.wall), tc.push_back(t.cpu), sw.push_back(s.wall);
                            if (bert) mw.push_back(torch_reference(spec, run_mode, threads, b, seconds, true, "masked").wall);
                        }
                    }
                    double o_w = median(ow), o_c = median(oc), t_w = median(tw), t_c = median(tc), s_w = median(sw);
                    double m_w = median(mw);
                    auto shown = [latency](double rate) { return rate <= 0 ? -1.0 : latency ? 1000.0 / rate : rate; };
                    double ratio = t_w > 0 ? (latency ? t_w / o_w : o_w / t_w) : 0;
                    double ratio_cpu = t_c > 0 ? (latency ? t_c / o_c : o_c / t_c) : 0;
                    double ratio_masked = m_w > 0 ? o_w / m_w : 0;
                    const char* fmt = latency ? "%-9s %-7s %3d %10.3f %10.3f %10.3f %6.2fx | %10.3f %10.3f %6.2fx | %6.2f"
                                              : "%-9s %-7s %3d %10.0f %10.0f %10.0f %6.2fx | %10.0f %10.0f %6.2fx | %6.2f";
                    std::string name = bert ? "bert-mlm" : spec;
                    std::printf(fmt, name.c_str(), mode.c_str(), threads, shown(o_w), shown(t_w), shown(s_w), ratio,
                                shown(o_c), shown(t_c), ratio_cpu, median(faults));
                    if (m_w > 0) std::printf("  masked %.0f %.2fx", m_w, ratio_masked);
                    std::printf("\n");
                    std::fflush(stdout);
                    csv += nn::str_cat(spec, ",", mode, ",", threads, ",", b, ",", shown(o_w), ",", shown(t_w), ",",
                                       shown(s_w), ",", ratio, ",", shown(o_c), ",", shown(t_c), ",", ratio_cpu, ",",
                                       median(faults), ",", m_w, ",", ratio_masked, "\n");
                }
            }
        nn::io::write_text_atomic(nn::io::join(out, "bench.csv"), csv);
        std::printf("\nwrote %s\n", nn::io::join(out, "bench.csv").c_str());

        if (!conv_models.empty()) {
            nn::set_num_threads(1);
            std::printf("\nconv layers at batch %lld, 1 thread: our kernels (forward: padding/im2col + gemm + bias + "
                        "ReLU; backward: dx, dw, db)\nagainst raw cblas_sgemm on each image's im2col shapes; fraction = "
                        "sgemm time / our time (1 = sgemm speed)\n\n", (long long)batch);
            std::printf("%-9s %-22s %-16s %9s %9s %6s %9s %9s %6s\n", "model", "layer", "in -> out", "fwd ms",
                        "sgemm ms", "frac", "bwd ms", "sgemm ms", "frac");
            std::string ccsv = "model,layer,C,H,W,OC,k,stride,ours_fwd_ms,sgemm_fwd_ms,fwd_fraction,ours_bwd_ms,"
                               "sgemm_bwd_ms,bwd_fraction\n";
            for (const std::string& spec : nn::io::split_list(conv_models, ',')) {
                auto model = nn::make_model(spec, 1);
                double of = 0, bf = 0, ob = 0, bb = 0;
                for (const ConvLayer& L : conv_layers(*model)) {
                    std::vector<ConvEfficiency> runs;
                    for (int rep = 0; rep < repeat; rep++) runs.push_back(conv_efficiency(L, batch, seconds / 3));
                    auto med = [&](double ConvEfficiency::*f) {
                        std::vector<double> v;
                        for (auto& r : runs) v.push_back(r.*f);
                        return median(v);
                    };
                    ConvEfficiency e{med(&ConvEfficiency::ours_fwd_ms), med(&ConvEfficiency::blas_fwd_ms),
                                     med(&ConvEfficiency::ours_bwd_ms), med(&ConvEfficiency::blas_bwd_ms)};
                    of += e.ours_fwd_ms, bf += e.blas_fwd_ms, ob += e.ours_bwd_ms, bb += e.blas_bwd_ms;
                    std::string shape = nn::str_cat(L.C, "x", L.H, " -> ", L.conv->out_channels, " k", L.conv->kernel_size,
                                                    L.conv->stride > 1 ? "/2" : "");
                    std::printf("%-9s %-22s %-16s %9.2f %9.2f %6.2f %9.2f %9.2f %6.2f\n", spec.c_str(), L.name.c_str(),
                                shape.c_str(), e.ours_fwd_ms, e.blas_fwd_ms, e.blas_fwd_ms / e.ours_fwd_ms,
                                e.ours_bwd_ms, e.blas_bwd_ms, e.blas_bwd_ms / e.ours_bwd_ms);
                    std::fflush(stdout);
                    ccsv += nn::str_cat(spec, ",", L.name, ",", L.C, ",", L.H, ",", L.W, ",", L.conv->out_channels, ",",
                                        L.conv->kernel_size, ",", L.conv->stride, ",", e.ours_fwd_ms, ",", e.blas_fwd_ms,
                                        ",", e.blas_fwd_ms / e.ours_fwd_ms, ",", e.ours_bwd_ms, ",", e.blas_bwd_ms, ",",
                                        e.blas_bwd_ms / e.ours_bwd_ms, "\n");
                }
                std::printf("%-9s %-22s %-16s %9.2f %9.2f %6.2f %9.2f %9.2f %6.2f\n", spec.c_str(), "all conv layers", "",
                            of, bf, bf / of, ob, bb, bb / ob);
                ccsv += nn::str_cat(spec, ",all,,,,,,,", of, ",", bf, ",", bf / of, ",", ob, ",", bb, ",", bb / ob, "\n");
            }
            nn::io::write_text_atomic(nn::io::join(out, "conv.csv"), ccsv);
            std::printf("\nwrote %s\n", nn::io::join(out, "conv.csv").c_str());
        }
    } catch (const nn::Error& e) {
        std::fprintf(stderr, "bench: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
