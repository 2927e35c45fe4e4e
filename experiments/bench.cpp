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
#include "nn/alloc.hpp"
#include "nn/blas.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/ops.hpp"
#include "nn/optim.hpp"
#include "nn/threads.hpp"
#include "nn/transformer.hpp"

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

// bert-mlm: tokens per second of a step on [batch, seq] random words (no padding) with 15 % of the
// positions selected for prediction; the vocabulary projection runs on those rows only.
Timing bench_bert(const std::string& spec, const std::string& mode, int64_t batch, double seconds) {
    auto model = nn::make_model(spec, 1);
    auto& mlm = dynamic_cast<nn::BertForMaskedLM&>(*model);
    const nn::BertConfig& c = mlm.bert->config;
    const int64_t T = c.max_position;
    nn::Rng rng(2);
    nn::IntTensor ids(nn::Shape{batch, T});
    std::vector<int64_t> positions, labels;
    for (int64_t i = 0; i < batch * T; i++) {
        ids.values[size_t(i)] = 5 + int64_t(rng.below(uint64_t(c.vocab_size - 5)));
        if (rng.uniform() < 0.15f) {
            positions.push_back(i);
            labels.push_back(ids.values[size_t(i)]);
        }
    }
    int64_t m = int64_t(positions.size());
    nn::IntTensor pos = nn::IntTensor::from_vector(positions, nn::Shape{m}), lab = nn::IntTensor::from_vector(labels, nn::Shape{m});
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

Timing bench_model(const std::string& spec, const std::string& mode, int64_t batch, double seconds) {
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
double torch_reference(const std::string& spec, const std::string& mode, int threads, int64_t batch, double seconds,
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
    std::string models = "lenet300,bert-mlm:vocab=8000", out = "runs/bench", torch = "auto";
    int max_threads = 2;
    int64_t batch = 128, text_batch = 32;
    double seconds = 3.0;
    experiments::Args args("bench", "Training and inference throughput, side by side with PyTorch when installed.");
    args.add("models", &models, "comma-separated model specs (a spec's own options continue after commas)")
        .add("batch", &batch, "batch size (image models)")
        .add("text-batch", &text_batch, "batch size in sequences (bert-mlm; sequence length from the spec)")
        .add("threads", &max_threads, "measure 1 .. this many threads")
        .add("seconds", &seconds, "measuring time per point")
        .add("torch", &torch, "auto (when installed), on or off")
        .add("out", &out, "directory for bench.csv");
    try {
        if (!args.parse(argc, argv)) return 0;
        bool use_torch = torch == "on" || (torch == "auto" && torch_available());
        nn::io::make_dirs(out);
        std::string csv = "model,mode,threads,batch,ours_per_s,torch_tuned_per_s,torch_shipped_per_s,ratio_tuned,"
                          "faults_per_step,torch_tuned_masked_head_per_s,ratio_masked_head\n";
        std::printf("OpenBLAS core: %s; PyTorch reference: %s\n\n", nn::blas_core_name().c_str(),
                    use_torch ? "yes" : "no (python3-torch not installed)");
        std::printf("Items are images, or tokens for bert-mlm. bert-mlm: ours projects onto the vocabulary only at\n"
                    "the ~15 %% selected positions; \"torch tuned\" does it at every position (as transformers'\n"
                    "BertForMaskedLM does), \"masked\" is torch tuned with the same selection.\n\n");
        std::printf("%-10s %-6s %3s %6s %12s %12s %12s %7s %8s %12s %7s\n", "model", "mode", "thr", "batch", "ours /s",
                    "torch tuned", "torch shipped", "ratio", "faults", "torch masked", "ratio");
        std::vector<std::string> specs;
        for (size_t b = 0, e; b <= models.size(); b = e + 1) {
            e = models.find(',', b);
            if (e == std::string::npos) e = models.size();
            if (e == b) continue;
            std::string part = models.substr(b, e - b);
            // "bert-mlm:vocab=8000,seq=32": a part with '=' but no ':' is another option of the previous spec
            if (!specs.empty() && part.find('=') != std::string::npos && part.find(':') == std::string::npos)
                specs.back() += "," + part;
            else
                specs.push_back(part);
        }
        for (const std::string& spec : specs)
            for (const char* mode : {"train", "infer"})
                for (int threads = 1; threads <= max_threads; threads++) {
                    nn::set_num_threads(threads);
                    const bool bert = nn::ModelSpec::parse(spec).name == "bert-mlm";
                    const int64_t b = bert ? text_batch : batch;
                    Timing ours = bench_model(spec, mode, b, seconds);
                    double tuned = use_torch ? torch_reference(spec, mode, threads, b, seconds, true) : -1;
                    double shipped = use_torch ? torch_reference(spec, mode, threads, b, seconds, false) : -1;
                    double masked = use_torch && bert ? torch_reference(spec, mode, threads, b, seconds, true, "masked") : -1;
                    double ratio = tuned > 0 ? ours.per_second / tuned : 0;
                    double ratio_masked = masked > 0 ? ours.per_second / masked : 0;
                    std::string name = bert ? "bert-mlm" : spec;
                    std::printf("%-10s %-6s %3d %6lld %12.0f %12.0f %12.0f %6.2fx %8.2f", name.c_str(), mode, threads,
                                (long long)b, ours.per_second, tuned, shipped, ratio, ours.faults_per_step);
                    if (masked > 0) std::printf(" %12.0f %6.2fx", masked, ratio_masked);
                    std::printf("\n");
                    std::fflush(stdout);
                    csv += nn::str_cat(spec, ",", mode, ",", threads, ",", b, ",", ours.per_second, ",", tuned, ",",
                                       shipped, ",", ratio, ",", ours.faults_per_step, ",", masked, ",", ratio_masked, "\n");
                }
        nn::io::write_text_atomic(nn::io::join(out, "bench.csv"), csv);
        std::printf("\nwrote %s\n", nn::io::join(out, "bench.csv").c_str());
    } catch (const nn::Error& e) {
        std::fprintf(stderr, "bench: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
