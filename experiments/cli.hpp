// The `secateurs` command-line tool: one function per subcommand, each parsing its own options with
// experiments::Args and calling the library. The table of subcommands is in secateurs.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "nn/module.hpp"
#include "nn/safetensors.hpp"
#include "prune/mask.hpp"

namespace experiments {

using Argv = std::vector<std::string>;

int cmd_train(const Argv& args);
int cmd_eval(const Argv& args);
int cmd_info(const Argv& args);
int cmd_prune(const Argv& args);
int cmd_summary(const Argv& args);
int cmd_imp(const Argv& args);
int cmd_experiment(const Argv& args);
int cmd_sparsify(const Argv& args);
int cmd_pretrain(const Argv& args);   // cli_bert.cpp
int cmd_finetune(const Argv& args);
int cmd_baseline(const Argv& args);
int cmd_bert_stats(const Argv& args);
int cmd_sensitivity(const Argv& args);  // cli_thin.cpp
int cmd_allocate(const Argv& args);
int cmd_thin(const Argv& args);
int cmd_flops(const Argv& args);
int cmd_bench(const Argv& args);        // cli_sparse.cpp

// Common flags every subcommand that computes takes: --threads N.
void apply_threads(int threads);

// A checkpoint's model (architecture from its "arch" metadata, or `spec_flag` when not empty) and
// masks ("<name>_mask" tensors). Defined in cli_thin.cpp.
struct Loaded {
    std::string spec;
    std::shared_ptr<nn::Module> model;
    prune::MaskSet masks;
    nn::st::File file;
};
Loaded load_checkpoint(const std::string& path, const std::string& spec_flag);
Loaded load_checkpoint(nn::st::File file, const std::string& path, const std::string& spec_flag);  // already read
// The architecture of a checkpoint: `spec_flag` when not empty, else its "arch" metadata (an error
// naming `path` when it has none).
std::string checkpoint_spec(const nn::st::File& file, const std::string& path, const std::string& spec_flag);

// secateurs eval on a BERT checkpoint (defined in cli_bert.cpp): `net` (its weights loaded from `f`)
// measured on `split` (train, val or test) of the task it was trained for, read from the file's
// metadata like its vocabulary — masked-token accuracy and perplexity for bert-mlm (`corpus`),
// accuracy for bert-cls (`task`), on the same hash split as pretrain / finetune.
int eval_bert(const nn::st::File& f, const std::string& path, nn::Module& net, const std::string& split);

// The Fashion-MNIST training set, or its first `subset` examples (--train-subset; 0: all).
data::ImageDataset fashion_mnist_train(int64_t subset);

}  // namespace experiments
