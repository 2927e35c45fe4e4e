// secateurs sparsify: a pruned checkpoint -> a sparse checkpoint (CSR for the pruned tensors), with a
// per-tensor memory report; --densify does the reverse. secateurs bench: how much faster a pruned
// checkpoint runs compiled to sparse kernels than as its masked dense model.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "experiments/args.hpp"
#include "experiments/bert_common.hpp"
#include "experiments/cli.hpp"
#include "experiments/thin_tools.hpp"
#include "nn/autograd.hpp"
#include "nn/blas.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/clock.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/rng.hpp"
#include "nn/safetensors.hpp"
#include "nn/threads.hpp"
#include "sparse/checkpoint.hpp"
#include "sparse/modules.hpp"

namespace experiments {

int cmd_sparsify(const Argv& argv) {
    std::string in, out, index = "auto";
    bool densify = false;
    Args args("secateurs sparsify",
              "Store the pruned tensors of a checkpoint as CSR. A float tensor of rank >= 2 becomes CSR when the\n"
              "file holds its mask \"<name>_mask\" (the pattern is the mask; PyTorch's \"<name>_orig\" + \"<name>_mask\"\n"
              "become \"<name>\") or when it has zeros, and only if that is smaller; everything else is copied.\n"
              "Prints what it decided and the memory of every tensor; without --out nothing is written.\n"
              "With --densify, expands a sparse checkpoint back into an ordinary one.");
    args.add("in", &in, "input checkpoint (.safetensors)")
        .add("out", &out, "output checkpoint (.safetensors); empty: report only")
        .add("index", &index, "column index width: auto (16-bit when the columns fit), 32 or 16")
        .add("densify", &densify, "expand a sparse checkpoint back into dense tensors");
    if (!args.parse(argv)) return 0;
    ENSURE(!in.empty(), "--in FILE is required");
    ENSURE(index == "auto" || index == "32" || index == "16", "--index must be auto, 32 or 16, got '",
           index, "'");
    nn::st::File f = nn::st::File::read(in);
    if (densify) {
        sparse::SparseCheckpoint c = sparse::parse_sparse_checkpoint(f, in);
        std::printf("%s: %zu sparse tensor(s) expanded, %zu other entries copied\n", in.c_str(), c.sparse.size(),
                    c.dense.entries().size());
        if (!out.empty()) {
            sparse::densify(c).write(out);
            std::printf("wrote %s\n", out.c_str());
        }
        return 0;
    }
    ENSURE(!sparse::is_sparse_checkpoint(f), in, ": already a sparse checkpoint (use --densify to expand it)");
    sparse::SparsifyOptions opt;
    opt.index = index == "auto" ? sparse::IndexChoice::automatic
                                : index == "32" ? sparse::IndexChoice::i32 : sparse::IndexChoice::u16;
    std::vector<sparse::SparsifyDecision> decisions;
    sparse::SparseCheckpoint c = sparse::sparsify(f, in, opt, &decisions);
    std::printf("%-36s %-18s %10s %8s %12s %12s  %s\n", "tensor", "shape", "nnz", "density", "bytes before",
                "bytes after", "decision");
    for (auto& d : decisions)
        std::printf("%-36s %-18s %10lld %8.4f %12lld %12lld  %s\n", d.name.c_str(), nn::to_string(d.shape).c_str(),
                    (long long)d.nnz, d.shape.numel() ? double(d.nnz) / double(d.shape.numel()) : 0.0,
                    (long long)d.bytes_before, (long long)d.bytes_after, d.reason.c_str());
    std::printf("\nmemory of every tensor (after conversion):\n%s", sparse::format_memory_report(c.memory()).c_str());
    if (!out.empty()) {
        nn::st::File written = sparse::to_file(c);
        written.write(out);
        std::printf("wrote %s (%zu bytes of tensors; input %zu)\n", out.c_str(), [&] {
            size_t n = 0;
            for (auto& e : written.entries()) n += e.bytes.size();
            return n;
        }(), [&] {
            size_t n = 0;
            for (auto& e : f.entries()) n += e.bytes.size();
            return n;
        }());
    }
    return 0;
}

int cmd_bench(const Argv& argv) {
    std::string ckpt, spec, batches = "1,128";
    int threads = 1, rounds = 5;
    int64_t seq = 0;
    double seconds = 0.05;
    sparse::CompileOptions opt;
    Args args("secateurs bench",
              "Inference speed of a pruned checkpoint: its masked dense model against the same weights compiled to\n"
              "sparse kernels (sparse::compile decides per layer by density), on random inputs: 28x28 images, or\n"
              "sequences of random words for BERT (bert-mlm predicts at 15 % of the positions). Prints each layer's\n"
              "decision, the weight memory dense and as compiled, how far the outputs differ, and per batch size the\n"
              "fastest of interleaved rounds (one thread: thread CPU time; more: wall time). Takes ordinary\n"
              "checkpoints (masks as \"<name>_mask\", or zeros) and sparse ones (secateurs sparsify).");
    args.add("ckpt", &ckpt, "checkpoint (.safetensors)")
        .add("model", &spec, "model spec (default: the checkpoint's \"arch\")")
        .add("batch-sizes", &batches, "comma-separated batch sizes (images, or sequences for BERT)")
        .add("seq-len", &seq, "BERT: tokens per sequence (default: the model's positions)")
        .add("threads", &threads, "worker threads (0: all cores)")
        .add("rounds", &rounds, "interleaved rounds per batch size (the fastest is kept)")
        .add("round-seconds", &seconds, "time of the dense model in one round (sets the forwards per round)")
        .add("max-density", &opt.max_density, "Linear layers at or below this density run sparse")
        .add("max-conv-density", &opt.max_conv_density, "Conv2d layers at or below this density run sparse")
        .add("lockstep", &opt.lockstep, "lockstep plans for sparse Linear layers (false: the nr kernels alone)")
        .add("small-batch-density", &opt.small_batch_density,
             nn::str_cat("sparse Linear layers denser than this run a dense copy for inputs of fewer than ",
                         sparse::kFewRows, " rows, and of fewer than ", sparse::kSmallBatchRows,
                         " when denser than ", sparse::kFewRowsDensityScale, " times this (1: no copies)"));
    if (!args.parse(argv)) return 0;
    ENSURE(!ckpt.empty(), "--ckpt FILE is required");
    ENSURE(rounds >= 1 && seconds > 0, "--rounds must be >= 1 and --round-seconds > 0");
    std::vector<int64_t> sizes;
    for (auto& item : nn::io::split_list(batches, ',')) {
        char* end = nullptr;
        long long b = std::strtoll(item.c_str(), &end, 10);
        ENSURE(!item.empty() && *end == '\0' && b >= 1 && b <= 65536, "--batch-sizes: '", item,
               "' is not a batch size (1..65536)");
        sizes.push_back(b);
    }
    ENSURE(!sizes.empty(), "--batch-sizes is empty");
    apply_threads(threads);

    nn::st::File f = nn::st::File::read(ckpt);
    spec = checkpoint_spec(f, ckpt, spec);
    const bool text = nn::ModelSpec::parse(spec).name.rfind("bert", 0) == 0;
    ENSURE(seq >= 0, "--seq-len must be >= 1 (or 0: the model's positions)");
    ENSURE(text || seq == 0, "--seq-len applies to BERT models, not to ", spec);
    std::shared_ptr<nn::Module> dense, compiled = nn::make_model(spec, 0);
    std::vector<sparse::LayerDecision> decisions;
    if (sparse::is_sparse_checkpoint(f)) {  // the stored patterns are the masks
        sparse::SparseCheckpoint c = sparse::parse_sparse_checkpoint(f, ckpt);
        dense = nn::make_model(spec, 0);
        nn::load_module(sparse::densify(c), *dense, ckpt);
        decisions = sparse::load_sparse_model(c, *compiled, ckpt, opt);
    } else {
        Loaded l = load_checkpoint(std::move(f), ckpt, spec);
        dense = l.model;
        nn::load_module(l.file, *compiled, ckpt);
        l.masks.apply(*dense);
        l.masks.apply(*compiled);
        for (auto& [pname, m] : l.masks.masks()) opt.masks[pname] = m;
        decisions = sparse::compile(*compiled, opt);
    }

    std::string input = "images";
    if (text) {
        const int64_t positions = bert_of(*dense, ckpt).config.max_position;
        ENSURE(seq <= positions, "--seq-len ", seq, " is longer than the ", positions, " positions of ", spec);
        input = "sequences of " + std::to_string(seq > 0 ? seq : positions) + " tokens";
    }

    // Decisions, and the memory of the layers' weights: dense float32, and as compiled (CSR16 where
    // the columns fit, else CSR, for the layers that run sparse, plus their lockstep plans and dense
    // copies for small batches).
    int64_t dense_bytes = 0, run_bytes = 0, plan_bytes = 0, copy_bytes = 0, n_sparse = 0;
    int width = 28;
    for (auto& d : decisions) width = std::max(width, int(d.name.size()));
    std::printf("%s: %s\n%-*s %-8s %-16s %8s  %s\n", ckpt.c_str(), spec.c_str(), width, "layer", "type", "weight",
                "density", "runs");
    for (auto& d : decisions) {
        sparse::TensorMemory m = sparse::tensor_memory(d.weight, d.shape, d.nnz);
        dense_bytes += m.dense_bytes;
        run_bytes += d.sparse ? (m.csr16_bytes >= 0 ? std::min(m.csr16_bytes, m.csr_bytes) : m.csr_bytes) : m.dense_bytes;
        plan_bytes += d.plan_bytes;
        copy_bytes += d.dense_copy_bytes;
        n_sparse += d.sparse;
        const std::string copy = nn::str_cat(", dense below ", d.dense_copy_rows, " rows");
        std::printf("%-*s %-8s %-16s %8.4f  %s (%s)%s%s\n", width, d.name.c_str(), d.type.c_str(),
                    nn::to_string(d.shape).c_str(), d.density, d.sparse ? "sparse" : "dense", d.reason.c_str(),
                    d.plan_bytes ? ", lockstep plan" : "", d.dense_copy_bytes ? copy.c_str() : "");
    }
    std::printf("%lld of %zu layers sparse; their weights: %lld bytes dense, %lld as compiled (%.3fx)", (long long)n_sparse,
                decisions.size(), (long long)dense_bytes, (long long)run_bytes,
                dense_bytes ? double(run_bytes) / double(dense_bytes) : 1.0);
    if (plan_bytes)
        std::printf(", plus %lld in lockstep plans for batches of 49 and more (%.3fx in all)", (long long)plan_bytes,
                    double(run_bytes + plan_bytes) / double(dense_bytes));
    if (copy_bytes)
        std::printf(", plus %lld in dense copies for inputs of few rows", (long long)copy_bytes);
    std::printf("\n");

    // The compiled model computes what the masked dense one does.
    dense->eval();
    compiled->eval();
    auto forward_of = [&](int64_t batch, uint64_t seed) { return random_forward(*dense, batch, seq, seed); };
    {
        nn::NoGradGuard no_grad;
        Forward f = forward_of(8, 1);
        nn::Tensor yd = f(*dense), ys = f(*compiled);
        double scale = 0, diff = 0;
        for (int64_t i = 0; i < yd.numel(); i++) {
            scale = std::max(scale, double(std::fabs(yd.data()[i])));
            diff = std::max(diff, double(std::fabs(yd.data()[i] - ys.data()[i])));
        }
        std::printf("outputs (8 random %s): compiled and masked dense differ by <= %.2g of max |y|\n",
                    input.c_str(), scale > 0 ? diff / scale : diff);
    }

    std::printf("\ninference on random %s, %d thread(s), fastest of %d interleaved rounds (%s); OpenBLAS core %s\n"
                "%8s %12s %12s %9s\n", input.c_str(), nn::num_threads(), rounds, nn::num_threads() == 1 ? "thread CPU time" : "wall time",
                nn::blas_core_description().c_str(), "batch", "dense ms", "sparse ms", "speed-up");
    for (int64_t b : sizes) {
        // Enough forwards per round for `seconds` of the dense model.
        Forward f = forward_of(b, 2);
        SpeedComparison one = compare_speed(*dense, *compiled, f, 1, 1, benchmark_seconds);
        int reps = int(std::clamp(std::ceil(seconds * 1000.0 / std::max(one.dense_ms, 1e-6)), 1.0, 100000.0));
        SpeedComparison s = compare_speed(*dense, *compiled, f, rounds, reps, benchmark_seconds);
        std::printf("%8lld %12.4f %12.4f %8.2fx\n", (long long)b, s.dense_ms, s.thin_ms, s.speedup());
    }
    return 0;
}

}  // namespace experiments
