// secateurs sparsify: a pruned checkpoint -> a sparse checkpoint (CSR for the pruned tensors), with a
// per-tensor memory report; --densify does the reverse.
#include <cstdio>

#include "experiments/args.hpp"
#include "experiments/cli.hpp"
#include "nn/check.hpp"
#include "nn/safetensors.hpp"
#include "sparse/checkpoint.hpp"

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
    ENSURE(!in.empty(), "secateurs sparsify: --in FILE is required");
    ENSURE(index == "auto" || index == "32" || index == "16", "secateurs sparsify: --index must be auto, 32 or 16, got '",
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

}  // namespace experiments
