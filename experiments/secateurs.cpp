// Entry point of the `secateurs` tool: dispatches to a subcommand and turns any nn::Error into one
// line on stderr and exit status 1.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include "experiments/cli.hpp"
#include "nn/alloc.hpp"
#include "nn/blas.hpp"
#include "nn/check.hpp"

namespace {

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const experiments::Argv&);
};

const Command kCommands[] = {
    {"train", "train a model on Fashion-MNIST", experiments::cmd_train},
    {"eval", "evaluate a checkpoint on the test set", experiments::cmd_eval},
    {"info", "list the tensors, dtypes, shapes and metadata of a safetensors file", experiments::cmd_info},
    {"prune", "prune the tensors of any safetensors file (torch.nn.utils.prune semantics)", experiments::cmd_prune},
    {"summary", "per-layer sparsity table of a safetensors file (mask-aware)", experiments::cmd_summary},
    {"imp", "iterative magnitude pruning / lottery tickets on Fashion-MNIST", experiments::cmd_imp},
    {"experiment", "run, shard, merge and report the experiments (secateurs experiment --help)", experiments::cmd_experiment},
    {"sparsify", "store a pruned checkpoint's tensors as CSR (and report their memory)", experiments::cmd_sparsify},
    {"pretrain", "pretrain a mini-BERT by masked-language modelling (default corpus: the KJV)", experiments::cmd_pretrain},
    {"finetune", "fine-tune a pretrained mini-BERT for classification (default: KJV genre)", experiments::cmd_finetune},
    {"baseline", "naive-Bayes and majority-class baselines of a text classification task", experiments::cmd_baseline},
    {"bert-stats", "weight statistics of a BERT checkpoint (near-zero fractions, embedding rows, heads)",
     experiments::cmd_bert_stats},
    {"sensitivity", "per-layer pruning sensitivity of a checkpoint on the validation split (shardable)",
     experiments::cmd_sensitivity},
    {"allocate", "per-layer pruning ratios from sensitivity curves for a drop, params or FLOPs budget",
     experiments::cmd_allocate},
    {"thin", "remove pruned filters / neurons / heads: a smaller dense checkpoint", experiments::cmd_thin},
    {"flops", "parameters and MACs per layer, dense and under masks", experiments::cmd_flops},
    {"bench", "inference speed of a pruned checkpoint: compiled to sparse kernels vs its masked dense model",
     experiments::cmd_bench},
};

void usage(FILE* out) {
    std::fprintf(out, "usage: secateurs <command> [options]   (secateurs <command> --help for details)\n\ncommands:\n");
    for (auto& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
    nn::select_blas_core(argv);
    // Past a file-size limit (ulimit -f) a write fails with EFBIG, reported like a full disk, instead
    // of the default SIGXFSZ killing the process with a core dump.
    ::signal(SIGXFSZ, SIG_IGN);
    nn::retain_heap_memory();
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (auto& c : kCommands) {
        if (std::strcmp(argv[1], c.name) != 0) continue;
        try {
            return c.run(experiments::Argv(argv + 2, argv + argc));
        } catch (const nn::Error& e) {
            std::fflush(stdout);
            std::fprintf(stderr, "secateurs %s: error: %s\n", c.name, e.what());
            return 1;
        } catch (const std::exception& e) {
            std::fflush(stdout);
            std::fprintf(stderr, "secateurs %s: internal error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "secateurs: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
