// The suite: every experiment, in report order. Each lives in its own exp_<name>.cpp.
#include "experiments/harness.hpp"

namespace experiments {

std::unique_ptr<Experiment> make_baselines();

const std::vector<std::pair<std::string, ExperimentFactory>>& experiment_registry() {
    static const std::vector<std::pair<std::string, ExperimentFactory>> registry = {
        {"baselines", make_baselines},
    };
    return registry;
}

}  // namespace experiments
