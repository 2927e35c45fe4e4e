// Iterative magnitude pruning and lottery tickets (Frankle & Carbin 2019; Frankle et al. 2020; and
// Han et al. 2015 when weights are preserved and fine-tuned). Level 0 trains the dense model; each
// level L >= 1 prunes `rate` of the surviving weights of the previous level's trained model (global
// or per layer, the output layer optionally at its own rate), resets the weights by the rewind
// policy (theta_0, theta_k, or keep them and fine-tune), and trains again. Controls reuse the
// ticket's masks: `reinit` trains them from a fresh random initialisation, `random-mask` trains
// random masks of the same per-layer density from theta_0.
//
// Files under out_dir: config.txt (a resumed run must match it), theta_0.safetensors,
// theta_k.safetensors, imp.csv (one row per finished level), level_LL/ (the trainer's metrics.csv,
// last/best checkpoints with masks, masks.safetensors, model.safetensors = final weights + masks,
// report.csv, done). A killed run continues inside the level it was in (from the trainer's last
// checkpoint) and then with the next levels. Controls write into out_dir/control-<kind>/.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "nn/trainer.hpp"

namespace prune {

struct ImpConfig {
    std::string model = "lenet300";  // model spec (nn::make_model)
    uint64_t seed = 1;               // initialisation (theta_0) and data order
    int64_t levels = 15;             // pruning levels after the dense level 0
    double rate = 0.2;               // fraction of survivors pruned per level
    double output_rate = -1.0;       // the output layer's rate per level (< 0: same as rate)
    bool global = false;             // one ranking over all pruned weights (else per layer)
    std::string rewind = "init";     // init | step:K | none (keep the trained weights, fine-tune)
    std::string control;             // "" | reinit | random-mask
    std::vector<std::string> params, ignore;  // globs; default: every weight with >= 2 dims
    nn::TrainConfig train;           // each level's training (out_dir is set per level)
    float finetune_lr = 0.0f;        // rewind none: learning rate of the fine-tuning (0: train.lr)
    int64_t finetune_epochs = 0;     // rewind none: epochs of fine-tuning (0: train.epochs)
    std::string out_dir;             // required
    bool progress = true;            // one line per level on stdout
    // Hooks for fault injection (the crash tests): on_trainer sees each level's trainer before it
    // resumes and trains; on_written runs after each of a level's final files is in place: "model"
    // (model.safetensors), then "done" (the done file and imp.csv; the next level has not started).
    std::function<void(int64_t level, nn::Trainer&)> on_trainer;
    std::function<void(int64_t level, const std::string& file)> on_written;

    std::string describe() const;    // the key=value lines of config.txt
};

struct ImpLevel {
    int64_t level = 0;
    double density = 1.0;        // kept fraction of the pruned parameters
    double total_density = 1.0;  // kept fraction of all parameters
    double test_acc = 0, test_loss = 0, final_val_acc = 0;
    double best_val_acc = 0;     // best validation accuracy during the level's training ...
    int64_t best_step = -1;      // ... and the step it was reached (the early-stop iteration)
    int64_t steps = 0;
    double seconds = 0;
};

// Runs (or resumes) the levels; returns every finished level, in order.
std::vector<ImpLevel> run_imp(const ImpConfig& cfg, const data::Dataset& train, const data::Dataset& val,
                              const data::Dataset& test);

// Reads out_dir/imp.csv (as written by run_imp).
std::vector<ImpLevel> read_imp_csv(const std::string& path);

}  // namespace prune
