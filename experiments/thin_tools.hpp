// Pieces shared by the structured-pruning CLI (cli_thin.cpp) and experiments: measured inference
// speed of a dense model against its thinned version, and the sensitivity curves as an SVG.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nn/clock.hpp"
#include "nn/module.hpp"
#include "nn/threads.hpp"
#include "prune/sensitivity.hpp"

namespace experiments {

// A model's forward pass on an input it holds: what compare_speed times.
using Forward = std::function<nn::Tensor(nn::Module&)>;

// A random input of `batch` examples for models like `model`, and the forward that runs it: 28x28
// images for the image models; for BERT, [batch, seq] random words (seq 0: the model's positions),
// bert-cls giving its class logits and bert-mlm the logits at 15 % of the positions (as in training
// and evaluation, the vocabulary projection runs on those rows only). Same seed, same input.
Forward random_forward(nn::Module& model, int64_t batch, int64_t seq = 0, uint64_t seed = 2);

// Inference (eval mode, no gradient) of `forward`, the two models interleaved: `samples` rounds,
// each timing `reps` forwards of each model by `clock` (default process CPU time, robust on a shared
// machine), the fastest round of each kept. Milliseconds per batch.
struct SpeedComparison {
    double dense_ms = 0, thin_ms = 0;
    double speedup() const { return dense_ms / thin_ms; }
};
// The clock of our benchmarks: on one thread the thread's CPU time (leaves out the time other programs
// hold the core), on more the wall time (which shows what the threads gain).
inline double benchmark_seconds() { return nn::num_threads() == 1 ? nn::thread_cpu_seconds() : nn::wall_seconds(); }

SpeedComparison compare_speed(nn::Module& dense, nn::Module& thin, const Forward& forward, int samples = 3,
                              int reps = 5, double (*clock)() = nn::process_cpu_seconds);
// The same on random_forward(dense, batch).
SpeedComparison compare_speed(nn::Module& dense, nn::Module& thin, int64_t batch, int samples = 3, int reps = 5,
                              double (*clock)() = nn::process_cpu_seconds);

// One line per analysed layer: accuracy against ratio, the dense accuracy as a dashed line.
std::string sensitivity_svg(const std::vector<prune::SensitivityRow>& rows, const std::string& title);

}  // namespace experiments
