// The `secateurs` command-line tool: one function per subcommand, each parsing its own options with
// experiments::Args and calling the library. The table of subcommands is in secateurs.cpp.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace experiments {

using Argv = std::vector<std::string>;

int cmd_train(const Argv& args);
int cmd_eval(const Argv& args);
int cmd_info(const Argv& args);

// Common flags every subcommand that computes takes: --threads N.
void apply_threads(int threads);

// Training augmentation for a model: mode "auto" turns random crops (zero padding `crop_padding`)
// and horizontal flips on for vgg and resnet20 and off for the others (the lottery-ticket nets and
// LeNets are trained without augmentation, as in their papers); "on" / "off" force it.
data::Augment default_augment(const std::string& model_spec, const std::string& mode, int crop_padding);

}  // namespace experiments
