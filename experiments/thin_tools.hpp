// Pieces shared by the structured-pruning CLI (cli_thin.cpp) and experiments: measured inference
// speed of a dense model against its thinned version, and the sensitivity curves as an SVG.
#pragma once

#include <string>
#include <vector>

#include "nn/clock.hpp"
#include "nn/module.hpp"
#include "nn/threads.hpp"
#include "prune/sensitivity.hpp"

namespace experiments {

// Inference (eval mode, no gradient) on a batch of random 28x28 images, the two models interleaved:
// `samples` rounds, each timing `reps` forwards of each model by `clock` (default process CPU time,
// robust on a shared machine), the fastest round of each kept. Milliseconds per batch.
struct SpeedComparison {
    double dense_ms = 0, thin_ms = 0;
    double speedup() const { return dense_ms / thin_ms; }
};
// The clock of our benchmarks: on one thread the thread's CPU time (leaves out the time other programs
// hold the core), on more the wall time (which shows what the threads gain).
inline double benchmark_seconds() { return nn::num_threads() == 1 ? nn::thread_cpu_seconds() : nn::wall_seconds(); }

SpeedComparison compare_speed(nn::Module& dense, nn::Module& thin, int64_t batch, int samples = 3, int reps = 5,
                              double (*clock)() = nn::process_cpu_seconds);

// One line per analysed layer: accuracy against ratio, the dense accuracy as a dashed line.
std::string sensitivity_svg(const std::vector<prune::SensitivityRow>& rows, const std::string& title);

}  // namespace experiments
