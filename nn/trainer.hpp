// The training loop: batches from a data::Dataset, forward and loss (cross-entropy of a classifier by
// default; any LossFn, e.g. masked-language modelling, in its place), backward,
// optimizer step, an explicit after-step hook (where pruning re-applies its masks), periodic
// evaluation, a progress line, metrics.csv, and checkpoints that hold everything needed to resume
// bit-identically (weights, optimizer state, step, RNG state, running epoch sums, and the settings
// that shape the trajectory, which a resume must match). The data order of an epoch is a pure
// function of (seed, epoch), so the position is just the step number.
// Checkpoints in <out>: checkpoint-<step>.safetensors (the newest keep_checkpoints of them) and
// last.safetensors (a hard link to the newest). Every file is written atomically; a run killed at
// any instant resumes from the newest checkpoint that reads back whole.
// The trainer sits at the top of nn/ and consumes data::Dataset; it knows nothing of pruning.
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "nn/safetensors.hpp"

namespace nn {

struct TrainConfig {
    int64_t epochs = 10;
    int64_t batch_size = 128;
    std::string optimizer = "sgd";  // sgd | adam | adamw
    float lr = 0.1f;
    float momentum = 0.9f;          // SGD momentum
    bool nesterov = false;
    float weight_decay = 0.0f;
    std::string schedule = "cosine";  // constant | step | cosine | warmup-linear | warmup-cosine
    float warmup_fraction = 0.0f;     // of all steps, for the warm-up schedules
    int64_t step_epochs = 0;          // step schedule: decay every this many epochs ...
    float gamma = 0.1f;               // ... by this factor
    float clip_grad_norm = 0.0f;      // 0: no clipping
    uint64_t seed = 1;
    int64_t eval_every = 0;           // steps between validation passes (0: at each epoch end)
    int64_t max_steps = 0;            // stop early after this many steps (0: all epochs)
    int64_t start_step = 0;           // begin here, as if this many steps were taken (data order and
                                      // LR schedule continue from it: rewinding to step k)
    int64_t checkpoint_every = 0;     // steps between checkpoints (0: at each epoch end)
    int keep_checkpoints = 2;         // step-numbered checkpoints kept (0: only last.safetensors)
    std::string out_dir;              // empty: write nothing
    bool progress = true;             // progress line on stdout
    bool eval_test = true;            // also evaluate the test set at each epoch end
    bool flush_denormals = true;      // FTZ/DAZ during fit() (see set_flush_denormals in threads.hpp)
    int64_t bucket_batches = 0;       // > 0: batch examples of similar Dataset::length (text)
    std::string item_name = "img";    // unit of the throughput in the progress line ("tok" for text)
};

struct EvalResult {
    double loss = 0.0, accuracy = 0.0;
    int64_t n = 0;  // targets counted (examples, or masked tokens for MLM)
};

// What one batch contributes: the mean loss over its counted targets (what backward differentiates),
// how many of those were predicted correctly, how many were counted, and how many input items
// (images, tokens) were processed, for throughput.
struct StepOutput {
    Tensor loss;
    int64_t n_correct = 0, n_counted = 0, n_items = 0;
};
using LossFn = std::function<StepOutput(Module& model, const data::Batch& batch)>;
// The classifier's loss: cross-entropy of model.forward(batch.x) against batch.y.
StepOutput classification_step(Module& model, const data::Batch& batch);

// Loss and accuracy of `model` (put in eval mode, restored afterwards) over a dataset, as averages
// over the counted targets of loss_fn. bucket_batches as in DataLoader (the order never matters).
EvalResult evaluate(Module& model, const data::Dataset& ds, int64_t batch_size = 512,
                    const LossFn& loss_fn = classification_step, int64_t bucket_batches = 0);

struct MetricsRow {
    int64_t step = 0;
    double epoch = 0, lr = 0, train_loss = 0, train_acc = 0, val_loss = NAN, val_acc = NAN, test_loss = NAN,
           test_acc = NAN, seconds = 0, images_per_s = 0;  // items (images or tokens) per second
    // seconds: since the run started, the time before a resume included (see seconds_before_)
};

struct TrainResult {
    std::vector<MetricsRow> history;
    double best_val_acc = NAN;  // best validation accuracy seen, and the step it was reached at
    int64_t best_step = -1;     // (the "early-stop iteration" of the lottery-ticket papers)
    EvalResult final_val, final_test;
    int64_t steps = 0;
    double seconds = 0;  // wall time of the whole run, a resumed run's earlier processes included
};

class Trainer {
public:
    Trainer(Module& model, TrainConfig cfg, const data::Dataset& train, const data::Dataset* val = nullptr,
            const data::Dataset* test = nullptr);

    // Runs from the current step to the end (all epochs, or max_steps).
    TrainResult fit();

    // Hooks. after_step runs right after every optimizer step (pruning enforces masks here);
    // before_step runs before each step with the step number (snapshots like theta_k, AGP);
    // after_backward runs once the step's gradients exist, before clipping and the optimizer step
    // (pruning masks gradients here so that clipping sees only live weights).
    std::function<void(int64_t step)> before_step;
    std::function<void(int64_t step)> after_backward;
    std::function<void(int64_t step)> after_step;
    // Extra tensors and metadata for checkpoints (masks, pruning level), and their restore. save_extra
    // must only add to the file: it is also called once when fit() starts, to size a checkpoint.
    std::function<void(st::File&)> save_extra;
    std::function<void(const st::File&)> load_extra;
    std::map<std::string, std::string> metadata;  // written into every checkpoint (e.g. "arch")
    LossFn loss_fn = classification_step;          // forward + loss of one batch

    // Full training state as a file image, to a file (atomic) and back. Loading checks that the model
    // and every trajectory-shaping setting (seed, batch size, optimizer and its hyper-parameters, LR
    // schedule, total steps, training-set size) match, naming the first that differs.
    st::File state_file() const;
    void save_state(const std::string& path) const;
    void load_state(const std::string& path);
    void load_state(const st::File& f, const std::string& source);
    // Resumes from the newest readable checkpoint in out_dir (last.safetensors or checkpoint-<step>),
    // skipping (with a note on stderr) files that do not read back whole; removes temporary files
    // left by a killed writer and drops metrics rows after the checkpoint's step. Returns whether it
    // resumed; resumed_from() names the file.
    bool resume();
    const std::string& resumed_from() const { return resumed_from_; }
    // The step-numbered checkpoints in `dir`, oldest first.
    static std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir);
    // Bytes one checkpoint of this run takes (optimizer buffers that are created lazily included).
    uint64_t checkpoint_bytes() const;

    Optimizer& optimizer() { return *optimizer_; }
    int64_t step() const { return step_; }
    int64_t steps_per_epoch() const { return loader_.n_batches(); }
    int64_t total_steps() const;
    const TrainConfig& config() const { return cfg_; }

private:
    void apply_lr();
    void write_metrics_row(const MetricsRow& row, bool header);
    // Drops metrics rows past `step` (and torn ones); returns the largest `seconds` of those kept.
    double truncate_metrics_after(int64_t step);
    void checkpoint();
    std::string last_good_checkpoint() const;

    Module& model_;
    TrainConfig cfg_;
    const data::Dataset& train_;
    const data::Dataset* val_;
    const data::Dataset* test_;
    data::DataLoader loader_;
    std::unique_ptr<Optimizer> optimizer_;
    LRSchedule schedule_;
    int64_t step_ = 0;
    // Running sums of the epoch in progress (saved so a resumed epoch reports the same numbers).
    double epoch_loss_ = 0;
    int64_t epoch_correct_ = 0, epoch_seen_ = 0;
    double best_val_acc_ = NAN;
    int64_t best_step_ = -1;
    int64_t last_checkpoint_step_ = -1;  // step of the newest checkpoint written or resumed from
    // Training time before this process, from the resumed run's metrics (up to the last row at or
    // before the checkpoint: the time after it was lost with the steps it replays).
    double seconds_before_ = 0;
    std::string resumed_from_;
};

// Builds the optimizer named in the config over the model's parameters.
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& cfg, const std::vector<NamedTensor>& params);

}  // namespace nn
