// The suite: every experiment, in report order. Each lives in its own exp_<name>.cpp.
#include "experiments/harness.hpp"

namespace experiments {

std::unique_ptr<Experiment> make_baselines();
std::unique_ptr<Experiment> make_granularity();
std::unique_ptr<Experiment> make_scoring();
std::unique_ptr<Experiment> make_scope();
std::unique_ptr<Experiment> make_schedule();
std::unique_ptr<Experiment> make_lottery();
std::unique_ptr<Experiment> make_lottery_conv();
std::unique_ptr<Experiment> make_sensitivity();
std::unique_ptr<Experiment> make_filters();
std::unique_ptr<Experiment> make_sparse_matrices();
std::unique_ptr<Experiment> make_bert_layers();
std::unique_ptr<Experiment> make_bert_embedding();

const std::vector<std::pair<std::string, ExperimentFactory>>& experiment_registry() {
    static const std::vector<std::pair<std::string, ExperimentFactory>> registry = {
        {"baselines", make_baselines},
        {"granularity", make_granularity},
        {"scoring", make_scoring},
        {"scope", make_scope},
        {"schedule", make_schedule},
        {"lottery", make_lottery},
        {"lottery-conv", make_lottery_conv},
        {"sparse-matrices", make_sparse_matrices},
        {"sensitivity", make_sensitivity},
        {"filters", make_filters},
        {"bert-layers", make_bert_layers},
        {"bert-embedding", make_bert_embedding},
    };
    return registry;
}

}  // namespace experiments
