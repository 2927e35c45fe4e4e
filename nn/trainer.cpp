#include "nn/clock.hpp"
#include "nn/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "nn/autograd.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/rng.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace {

constexpr const char* kMetricsHeader =
    "step,epoch,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds,images_per_s\n";

std::string fmt_double(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

std::string fmt_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    int64_t t = int64_t(s + 0.5);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%" PRId64 ":%02d:%02d", t / 3600, int(t / 60 % 60), int(t % 60));
    else std::snprintf(buf, sizeof buf, "%d:%02d", int(t / 60), int(t % 60));
    return buf;
}

std::string meta_get(const st::File& f, const std::string& key, const std::string& path) {
    auto it = f.metadata.find(key);
    ENSURE(it != f.metadata.end(), path, ": not a training checkpoint (metadata '", key, "' is missing)");
    return it->second;
}

int64_t meta_i64(const st::File& f, const std::string& key, const std::string& path) {
    std::string text = meta_get(f, key, path);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    ENSURE(!text.empty() && *end == 0 && errno == 0, path, ": metadata '", key, "' is not an integer: '", text, "'");
    return v;
}

double meta_double(const st::File& f, const std::string& key, const std::string& path) {
    std::string text = meta_get(f, key, path);
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    ENSURE(!text.empty() && *end == 0, path, ": metadata '", key, "' is not a number: '", text, "'");
    return v;
}

std::string fmt_float(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", double(v));
    return buf;
}

// NOTE: element by element, not through sum_squares: squares of large finite weights overflow float.
bool all_finite(const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!std::isfinite(x[i])) return false;
    return true;
}

// The first parameter holding a NaN or infinity, or empty.
std::string first_non_finite(const std::vector<NamedTensor>& params) {
    for (auto& [name, p] : params)
        if (!all_finite(p.data(), p.numel())) return name;
    return "";
}

// What a non-finite loss points at: a parameter that went non-finite, non-finite inputs, or else the
// parameter holding the largest weight (where a diverging run usually shows first).
std::string diagnose_non_finite_loss(const std::vector<NamedTensor>& params, const Tensor& x) {
    std::string bad = first_non_finite(params);
    if (!bad.empty()) return "parameter '" + bad + "' holds non-finite values";
    Tensor xc = x.contiguous();
    if (!all_finite(xc.data(), xc.numel())) return "the input batch holds non-finite values";
    std::string largest;
    float max_abs = -1.0f;
    for (auto& [name, p] : params) {
        const float* d = p.data();
        for (int64_t i = 0, n = p.numel(); i < n; i++)
            if (std::fabs(d[i]) > max_abs) {
                max_abs = std::fabs(d[i]);
                largest = name;
            }
    }
    return str_cat("parameters are finite; the largest weight is in '", largest, "' (|w| = ", max_abs,
                   "), so activations overflowed");
}

// Sum of squares of all gradients, and the first parameter whose gradient is not finite.
double grad_norm_sq(const std::vector<NamedTensor>& params, std::string& bad) {
    double total = 0.0;
    for (auto& [name, p] : params) {
        Tensor g = p.grad();
        if (!g.defined()) continue;
        double s = kernels::sum_squares(g.data(), g.numel());
        if (!std::isfinite(s) && bad.empty() && !all_finite(g.data(), g.numel())) bad = name;
        total += s;
    }
    return total;
}

}  // namespace

StepOutput classification_step(Module& model, const data::Batch& batch) {
    StepOutput out;
    Tensor logits = model.forward(batch.x);
    out.loss = cross_entropy(logits, batch.y);
    out.n_correct = count_correct(logits, batch.y);
    out.n_counted = out.n_items = batch.y.numel();
    return out;
}

EvalResult evaluate(Module& model, const data::Dataset& ds, int64_t batch_size, const LossFn& loss_fn,
                    int64_t bucket_batches) {
    bool was_training = model.training();
    model.eval();
    NoGradGuard no_grad;
    data::DataLoader loader(ds, batch_size, false, 0, false, bucket_batches);
    double loss_sum = 0.0;
    int64_t correct = 0, n = 0;
    for (int64_t b = 0; b < loader.n_batches(); b++) {
        StepOutput out = loss_fn(model, loader.batch(b));
        loss_sum += double(out.loss.item()) * double(out.n_counted);
        correct += out.n_correct;
        n += out.n_counted;
    }
    model.train(was_training);
    EvalResult r;
    r.n = n;
    r.loss = n ? loss_sum / double(n) : 0.0;
    r.accuracy = n ? double(correct) / double(n) : 0.0;
    return r;
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& cfg, const std::vector<NamedTensor>& params) {
    if (cfg.optimizer == "sgd") {
        SGDOptions o;
        o.lr = cfg.lr;
        o.momentum = cfg.momentum;
        o.nesterov = cfg.nesterov;
        o.weight_decay = cfg.weight_decay;
        return std::make_unique<SGD>(params, o);
    }
    if (cfg.optimizer == "adam" || cfg.optimizer == "adamw") {
        AdamOptions o;
        o.lr = cfg.lr;
        o.weight_decay = cfg.weight_decay;
        o.decoupled = cfg.optimizer == "adamw";
        return std::make_unique<Adam>(params, o);
    }
    RAISE("unknown optimizer '", cfg.optimizer, "' (expected sgd, adam or adamw)");
}

Trainer::Trainer(Module& model, TrainConfig cfg, const data::Dataset& train, const data::Dataset* val,
                 const data::Dataset* test)
    : model_(model), cfg_(std::move(cfg)), train_(train), val_(val), test_(test),
      loader_(train, cfg_.batch_size, true, cfg_.seed, false, cfg_.bucket_batches) {
    ENSURE(cfg_.epochs > 0 || cfg_.max_steps > 0, "training needs epochs > 0 or max_steps > 0");
    ENSURE(cfg_.epochs >= 0 && cfg_.max_steps >= 0, "epochs (", cfg_.epochs, ") and max steps (", cfg_.max_steps,
           ") must not be negative");
    ENSURE(train.size() > 0, "the training set is empty");
    ENSURE(cfg_.start_step >= 0, "start_step must be >= 0, got ", cfg_.start_step);
    step_ = cfg_.start_step;
    ENSURE(std::isfinite(cfg_.lr) && cfg_.lr >= 0.0f, "learning rate must be finite and >= 0, got ", cfg_.lr);
    ENSURE(cfg_.momentum >= 0.0f && cfg_.momentum < 1.0f, "momentum must be in [0, 1), got ", cfg_.momentum);
    ENSURE(cfg_.weight_decay >= 0.0f && std::isfinite(cfg_.weight_decay), "weight decay must be finite and >= 0, got ",
           cfg_.weight_decay);
    ENSURE(cfg_.warmup_fraction >= 0.0f && cfg_.warmup_fraction <= 1.0f, "warm-up fraction must be in [0, 1], got ",
           cfg_.warmup_fraction);
    ENSURE(cfg_.gamma > 0.0f && std::isfinite(cfg_.gamma), "step-schedule gamma must be finite and > 0, got ",
           cfg_.gamma);
    ENSURE(cfg_.step_epochs >= 0, "step-schedule epochs must be >= 0, got ", cfg_.step_epochs);
    ENSURE(cfg_.clip_grad_norm >= 0.0f, "gradient clipping norm must be >= 0, got ", cfg_.clip_grad_norm);
    ENSURE(cfg_.eval_every >= 0 && cfg_.checkpoint_every >= 0, "eval_every (", cfg_.eval_every,
           ") and checkpoint_every (", cfg_.checkpoint_every, ") must not be negative");
    ENSURE(cfg_.keep_checkpoints >= 0, "keep_checkpoints must be >= 0, got ", cfg_.keep_checkpoints);
    optimizer_ = make_optimizer(cfg_, model_.named_parameters());
    schedule_.kind = LRSchedule::parse(cfg_.schedule);
    schedule_.total_steps = total_steps();
    schedule_.warmup_steps = int64_t(double(cfg_.warmup_fraction) * double(schedule_.total_steps));
    schedule_.step_size = cfg_.step_epochs * steps_per_epoch();
    schedule_.gamma = cfg_.gamma;
    if (!cfg_.out_dir.empty()) io::check_writable_dir(cfg_.out_dir);
}

int64_t Trainer::total_steps() const {
    int64_t all = cfg_.epochs * steps_per_epoch();
    return cfg_.max_steps > 0 ? std::min(cfg_.max_steps, all > 0 ? all : cfg_.max_steps) : all;
}

void Trainer::apply_lr() { optimizer_->lr = cfg_.lr * schedule_.factor(step_); }

TrainResult Trainer::fit() {
    TrainResult result;
    const int64_t total = total_steps(), spe = steps_per_epoch();
    const bool tty = cfg_.progress && isatty(STDOUT_FILENO);
    const auto params = model_.named_parameters();
    // Seconds count from the run's start: a resumed run continues from the time its metrics recorded.
    double t0 = wall_seconds() - seconds_before_, train_time = 0.0, last_print = 0.0;
    int64_t images_since = 0;
    double since_t = 0.0;
    int64_t loaded_epoch = -1;
    const int64_t start_step = step_;
    model_.train();
    // Restores the caller's denormal mode however fit() ends.
    struct DenormalMode {
        bool previous;
        explicit DenormalMode(bool on) : previous(set_flush_denormals(on)) {}
        ~DenormalMode() { set_flush_denormals(previous); }
    } denormal_mode(cfg_.flush_denormals);

    auto evaluate_and_log = [&](bool epoch_end) {
        MetricsRow row;
        row.step = step_;
        row.epoch = double(step_) / double(spe);
        row.lr = optimizer_->lr;
        row.train_loss = epoch_seen_ ? epoch_loss_ / double(epoch_seen_) : NAN;
        row.train_acc = epoch_seen_ ? double(epoch_correct_) / double(epoch_seen_) : NAN;
        if (val_) {
            EvalResult v = evaluate(model_, *val_, 512, loss_fn, cfg_.bucket_batches);
            row.val_loss = v.loss;
            row.val_acc = v.accuracy;
            result.final_val = v;
            if (!(v.accuracy <= best_val_acc_)) {  // also true when best is NaN
                best_val_acc_ = v.accuracy;
                best_step_ = step_;
                if (!cfg_.out_dir.empty()) {
                    st::File f;
                    f.metadata = metadata;
                    f.metadata["trainer.step"] = std::to_string(step_);
                    put_module(f, model_);
                    if (save_extra) save_extra(f);
                    f.write(io::join(cfg_.out_dir, "best.safetensors"));
                }
            }
        }
        if (test_ && cfg_.eval_test && (epoch_end || step_ == total)) {
            EvalResult t = evaluate(model_, *test_, 512, loss_fn, cfg_.bucket_batches);
            row.test_loss = t.loss;
            row.test_acc = t.accuracy;
            result.final_test = t;
        }
        row.seconds = wall_seconds() - t0;
        row.images_per_s = since_t > 0 ? double(images_since) / since_t : 0.0;
        result.history.push_back(row);
        write_metrics_row(row, false);
        if (cfg_.progress) {
            if (tty) std::printf("\r\033[K");
            std::printf("epoch %.2f/%" PRId64 "  step %" PRId64 "/%" PRId64 "  train loss %.4f acc %.2f%%", row.epoch,
                        cfg_.epochs, step_, total, row.train_loss, 100.0 * row.train_acc);
            if (val_) std::printf("  val loss %.4f acc %.2f%%", row.val_loss, 100.0 * row.val_acc);
            if (!std::isnan(row.test_acc)) std::printf("  test acc %.2f%%", 100.0 * row.test_acc);
            std::printf("  %.0f %s/s  %s elapsed\n", row.images_per_s, cfg_.item_name.c_str(),
                        fmt_duration(row.seconds).c_str());
            std::fflush(stdout);
        }
    };

    if (!cfg_.out_dir.empty()) {
        // Before the first step: a full disk, a quota or a file-size limit is reported now, not after
        // hours of training. Room for the kept checkpoints plus the one being written.
        io::remove_stale_temp_files(cfg_.out_dir);
        uint64_t copies = uint64_t(std::max(cfg_.keep_checkpoints, 1)) + 1;
        io::check_writable_dir(cfg_.out_dir, checkpoint_bytes() * copies);
        if (step_ == cfg_.start_step || !io::exists(io::join(cfg_.out_dir, "metrics.csv"))) write_metrics_row(MetricsRow{}, true);
    }

    while (step_ < total) {
        int64_t epoch = step_ / spe, b = step_ % spe;
        if (epoch != loaded_epoch) {
            loader_.set_epoch(epoch);
            loaded_epoch = epoch;
        }
        if (before_step) before_step(step_);
        double ts = wall_seconds();
        data::Batch batch = loader_.batch(b, true);
        apply_lr();
        StepOutput out = loss_fn(model_, batch);
        Tensor loss = out.loss;
        float loss_value = loss.item();
        ENSURE(std::isfinite(loss_value), "non-finite loss ", loss_value, " at step ", step_, " (epoch ", epoch,
               "): ", diagnose_non_finite_loss(params, batch.x), "; stopping", last_good_checkpoint(),
               ". Try a lower learning rate.");
        optimizer_->zero_grad();
        loss.backward();
        if (after_backward) after_backward(step_);
        std::string bad;
        double norm_sq = grad_norm_sq(params, bad);
        ENSURE(bad.empty(), "non-finite gradient in '", bad, "' at step ", step_, " (epoch ", epoch, "); stopping",
               last_good_checkpoint(), ". Try a lower learning rate.");
        if (cfg_.clip_grad_norm > 0.0f) {
            double norm = std::sqrt(norm_sq);
            if (norm > cfg_.clip_grad_norm) {
                float scale = float(cfg_.clip_grad_norm / (norm + 1e-6));
                for (auto& [name, p] : params) {
                    Tensor g = p.grad();
                    if (!g.defined()) continue;
                    float* d = g.data();
                    for (int64_t i = 0, n = g.numel(); i < n; i++) d[i] *= scale;
                }
            }
        }
        optimizer_->step();
        step_++;
        if (after_step) after_step(step_);
        epoch_loss_ += double(loss_value) * double(out.n_counted);
        epoch_correct_ += out.n_correct;
        epoch_seen_ += out.n_counted;
        double dt = wall_seconds() - ts;
        train_time += dt;
        since_t += dt;
        images_since += out.n_items;

        if (tty && wall_seconds() - last_print > 0.25) {
            last_print = wall_seconds();
            double rate = train_time > 0 ? double(step_ - start_step) / train_time : 0.0;
            std::printf("\r\033[Kepoch %" PRId64 "/%" PRId64 "  step %" PRId64 "/%" PRId64 "  loss %.4f  acc %.2f%%  %.0f %s/s  ETA %s",
                        epoch + 1, cfg_.epochs, step_, total, epoch_loss_ / double(epoch_seen_),
                        100.0 * double(epoch_correct_) / double(epoch_seen_), double(images_since) / since_t,
                        cfg_.item_name.c_str(), fmt_duration(rate > 0 ? double(total - step_) / rate : NAN).c_str());
            std::fflush(stdout);
        }
        bool epoch_end = step_ % spe == 0;
        bool periodic_eval = cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0;
        if (epoch_end || periodic_eval || step_ == total) {
            evaluate_and_log(epoch_end || step_ == total);
            images_since = 0;
            since_t = 0.0;
        }
        if (epoch_end) {
            epoch_loss_ = 0;
            epoch_correct_ = epoch_seen_ = 0;
        }
        bool periodic_ckpt = cfg_.checkpoint_every > 0 && step_ % cfg_.checkpoint_every == 0;
        if (!cfg_.out_dir.empty() && (epoch_end || periodic_ckpt || step_ == total)) checkpoint();
    }
    result.steps = step_;
    result.seconds = wall_seconds() - t0;
    result.best_val_acc = best_val_acc_;
    result.best_step = best_step_;
    return result;
}

std::string Trainer::last_good_checkpoint() const {
    if (cfg_.out_dir.empty()) return "";
    if (last_checkpoint_step_ < 0) return " (no checkpoint written yet)";
    return str_cat(" (last good checkpoint: ", io::join(cfg_.out_dir, "last.safetensors"), ", step ",
                   last_checkpoint_step_, ")");
}

std::vector<std::pair<int64_t, std::string>> Trainer::list_checkpoints(const std::string& dir) {
    std::vector<std::pair<int64_t, std::string>> out;
    const std::string prefix = "checkpoint-", suffix = ".safetensors";
    for (const std::string& name : io::list_dir(dir)) {
        if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
        if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        out.emplace_back(std::stoll(digits), io::join(dir, name));
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Writes checkpoint-<step> then points last at it, so at every instant both names hold a complete
// file; then deletes step files beyond the newest keep_checkpoints (and any newer than this step:
// leftovers of an abandoned future, which this run is about to rewrite).
void Trainer::checkpoint() {
    std::string bad = first_non_finite(model_.named_parameters());
    ENSURE(bad.empty(), "parameter '", bad, "' became non-finite at step ", step_,
           "; not writing a checkpoint; stopping", last_good_checkpoint(), ". Try a lower learning rate.");
    std::string last = io::join(cfg_.out_dir, "last.safetensors");
    if (cfg_.keep_checkpoints == 0) {
        save_state(last);
    } else {
        std::string numbered = io::join(cfg_.out_dir, "checkpoint-" + std::to_string(step_) + ".safetensors");
        save_state(numbered);
        io::link_atomic(numbered, last);
    }
    last_checkpoint_step_ = step_;
    auto numbered = list_checkpoints(cfg_.out_dir);
    int64_t kept = 0;
    for (auto it = numbered.rbegin(); it != numbered.rend(); ++it) {
        bool keep = it->first <= step_ && kept < cfg_.keep_checkpoints;
        if (keep) kept++;
        else std::remove(it->second.c_str());
    }
}

uint64_t Trainer::checkpoint_bytes() const {
    uint64_t bytes = state_file().serialize().size();
    if (optimizer_->state_dict().empty()) {  // buffers appear at the first step
        uint64_t param_bytes = 0;
        for (auto& [name, p] : model_.named_parameters()) param_bytes += uint64_t(p.numel()) * sizeof(float);
        int buffers = cfg_.optimizer == "sgd" ? (cfg_.momentum != 0.0f ? 1 : 0) : 2;
        bytes += param_bytes * uint64_t(buffers) + 256 * model_.named_parameters().size();
    }
    return bytes;
}

namespace {

// The settings that shape the trajectory: a resume must match every one of them to stay bit-identical.
struct Setting {
    const char* key;
    const char* label;
    std::string value;
};

std::vector<Setting> trajectory_settings(const TrainConfig& c, int64_t total_steps, int64_t train_examples) {
    return {
        {"trainer.seed", "seed", std::to_string(c.seed)},
        {"trainer.batch_size", "batch size", std::to_string(c.batch_size)},
        {"trainer.train_examples", "training-set size", std::to_string(train_examples)},
        {"trainer.total_steps", "total steps", std::to_string(total_steps)},
        {"trainer.optimizer", "optimizer", c.optimizer},
        {"trainer.lr", "learning rate", fmt_float(c.lr)},
        {"trainer.momentum", "momentum", fmt_float(c.momentum)},
        {"trainer.nesterov", "nesterov", c.nesterov ? "true" : "false"},
        {"trainer.weight_decay", "weight decay", fmt_float(c.weight_decay)},
        {"trainer.schedule", "LR schedule", c.schedule},
        {"trainer.warmup_fraction", "warm-up fraction", fmt_float(c.warmup_fraction)},
        {"trainer.step_epochs", "step-schedule epochs", std::to_string(c.step_epochs)},
        {"trainer.gamma", "step-schedule gamma", fmt_float(c.gamma)},
        {"trainer.clip_grad_norm", "gradient clipping norm", fmt_float(c.clip_grad_norm)},
    };
}

}  // namespace

st::File Trainer::state_file() const {
    st::File f;
    f.metadata = metadata;
    for (auto& s : trajectory_settings(cfg_, total_steps(), train_.size())) f.metadata[s.key] = s.value;
    f.metadata["trainer.step"] = std::to_string(step_);
    f.metadata["trainer.threads"] = std::to_string(num_threads());  // bit-identical needs the same count
    f.metadata["trainer.optimizer_steps"] = std::to_string(optimizer_->n_steps);
    f.metadata["trainer.lr_now"] = fmt_float(optimizer_->lr);  // informative: recomputed from the step
    f.metadata["trainer.epoch_loss"] = fmt_double(epoch_loss_);
    f.metadata["trainer.epoch_correct"] = std::to_string(epoch_correct_);
    f.metadata["trainer.epoch_seen"] = std::to_string(epoch_seen_);
    f.metadata["trainer.best_val_acc"] = fmt_double(best_val_acc_);
    f.metadata["trainer.best_step"] = std::to_string(best_step_);
    auto rs = op_rng().state();
    std::string rng_text;
    for (uint64_t w : rs) {
        if (!rng_text.empty()) rng_text += ' ';
        rng_text += std::to_string(w);
    }
    f.metadata["trainer.op_rng"] = rng_text;
    put_module(f, model_);
    for (auto& [name, t] : optimizer_->state_dict()) f.put("optimizer." + name, t);
    if (save_extra) save_extra(f);
    return f;
}

void Trainer::save_state(const std::string& path) const { state_file().write(path); }

void Trainer::load_state(const std::string& path) { load_state(st::File::read(path), path); }

void Trainer::load_state(const st::File& f, const std::string& path) {
    for (auto& s : trajectory_settings(cfg_, total_steps(), train_.size())) {
        std::string was = meta_get(f, s.key, path);
        ENSURE(was == s.value, path, ": checkpoint was written with ", s.label, " ", was, ", this run uses ", s.value,
               " (resuming needs the same settings; start a new --out to change them)");
    }
    int64_t step = meta_i64(f, "trainer.step", path);
    ENSURE(step >= 0 && step <= total_steps(), path, ": checkpoint step ", step, " is outside [0, ", total_steps(), "]");
    std::istringstream rs(meta_get(f, "trainer.op_rng", path));
    std::array<uint64_t, 4> state{};
    for (auto& w : state) ENSURE(bool(rs >> w), path, ": malformed trainer.op_rng metadata");
    load_module(f, model_, path);
    std::vector<NamedTensor> opt_state;
    for (auto& e : f.entries())
        if (e.name.rfind("optimizer.", 0) == 0) opt_state.emplace_back(e.name.substr(10), f.tensor(e.name));
    try {
        optimizer_->load_state_dict(opt_state);
    } catch (const Error& e) {
        RAISE(path, ": ", e.what());
    }
    optimizer_->n_steps = meta_i64(f, "trainer.optimizer_steps", path);
    step_ = step;
    epoch_loss_ = meta_double(f, "trainer.epoch_loss", path);
    epoch_correct_ = meta_i64(f, "trainer.epoch_correct", path);
    epoch_seen_ = meta_i64(f, "trainer.epoch_seen", path);
    best_val_acc_ = meta_double(f, "trainer.best_val_acc", path);
    best_step_ = meta_i64(f, "trainer.best_step", path);
    op_rng().set_state(state);
    auto threads = f.metadata.find("trainer.threads");
    if (threads != f.metadata.end() && threads->second != std::to_string(num_threads()))
        std::fprintf(stderr, "note: %s was written with %s thread(s), this run uses %d: the result will not be "
                     "bit-identical to an uninterrupted run\n", path.c_str(), threads->second.c_str(), num_threads());
    if (load_extra) load_extra(f);
    last_checkpoint_step_ = step_;
    apply_lr();
}

bool Trainer::resume() {
    if (cfg_.out_dir.empty()) return false;
    io::remove_stale_temp_files(cfg_.out_dir);
    // A checkpoint that does not read back whole (damaged on disk) is skipped with a note, and the
    // next newest is used. last.safetensors is normally the newest; a step file is newer only when the
    // run died between writing it and re-pointing last.
    auto try_read = [](const std::string& path, st::File& out, int64_t& step) {
        try {
            out = st::File::read(path);
            step = meta_i64(out, "trainer.step", path);
            return true;
        } catch (const Error& e) {
            std::fprintf(stderr, "note: skipping unreadable checkpoint %s: %s\n", path.c_str(), e.what());
            return false;
        }
    };
    std::string last = io::join(cfg_.out_dir, "last.safetensors"), chosen;
    st::File f;
    int64_t chosen_step = -1;
    if (io::exists(last) && try_read(last, f, chosen_step)) chosen = last;
    auto numbered = list_checkpoints(cfg_.out_dir);
    for (auto it = numbered.rbegin(); it != numbered.rend() && it->first > chosen_step; ++it) {
        st::File g;
        int64_t step = -1;
        if (try_read(it->second, g, step) && step > chosen_step) {
            chosen = it->second;
            chosen_step = step;
            f = std::move(g);
            break;
        }
    }
    if (chosen.empty()) return false;
    load_state(f, chosen);
    resumed_from_ = chosen;
    seconds_before_ = truncate_metrics_after(step_);
    return true;
}

void Trainer::write_metrics_row(const MetricsRow& r, bool header) {
    if (cfg_.out_dir.empty()) return;
    std::string path = io::join(cfg_.out_dir, "metrics.csv");
    std::ofstream out(path, header ? std::ios::trunc : std::ios::app);
    ENSURE(bool(out), path, ": cannot open for writing");
    if (header) {
        out << kMetricsHeader;
        return;
    }
    char buf[512];
    std::snprintf(buf, sizeof buf, "%" PRId64 ",%.4f,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f\n", r.step, r.epoch,
                  r.lr, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.test_loss, r.test_acc, r.seconds,
                  r.images_per_s);
    out << buf;
    out.flush();
    ENSURE(bool(out), path, ": write failed (disk full?)");
}

// Keeps the header and the complete rows up to `step`, and returns the last kept row's `seconds`
// (rows are written in time order). A row cut short by a kill (no newline, or a step or seconds
// field that does not parse) is dropped rather than taken for data.
double Trainer::truncate_metrics_after(int64_t step) {
    std::string path = io::join(cfg_.out_dir, "metrics.csv");
    if (!io::exists(path)) return 0.0;
    double seconds = 0.0;
    std::string text = io::read_text(path), kept;
    size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) break;  // partial last line
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (first) {
            first = false;
            if (line.rfind("step,", 0) == 0) {
                kept += line + "\n";
                continue;
            }
        }
        std::vector<std::string> fields = io::split(line, ',');
        if (fields.size() < 2) continue;
        char *step_end = nullptr, *sec_end = nullptr;
        const std::string& step_field = fields.front();
        const std::string& sec_field = fields[fields.size() - 2];  // seconds is the second to last column
        long long row_step = std::strtoll(step_field.c_str(), &step_end, 10);
        double row_seconds = std::strtod(sec_field.c_str(), &sec_end);
        if (step_field.empty() || *step_end != 0 || sec_field.empty() || *sec_end != 0 || !std::isfinite(row_seconds))
            continue;
        if (row_step > step) continue;
        kept += line + "\n";
        seconds = row_seconds;
    }
    if (kept.rfind("step,", 0) != 0) kept.insert(0, kMetricsHeader);
    io::write_text_atomic(path, kept);
    return seconds;
}

}  // namespace nn
