#include "nn/trainer.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
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

namespace nn {

namespace {

double now_seconds() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

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

// Sum of squares of all gradients, and the first parameter whose gradient is not finite.
double grad_norm_sq(const std::vector<NamedTensor>& params, std::string& bad) {
    double total = 0.0;
    for (auto& [name, p] : params) {
        Tensor g = p.grad();
        if (!g.defined()) continue;
        double s = kernels::sum_squares(g.data(), g.numel());
        if (!std::isfinite(s) && bad.empty()) bad = name;
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
    ENSURE(train.size() > 0, "the training set is empty");
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
    double t0 = now_seconds(), train_time = 0.0, last_print = 0.0;
    int64_t images_since = 0;
    double since_t = 0.0;
    int64_t loaded_epoch = -1;
    const int64_t start_step = step_;
    model_.train();

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
        row.seconds = now_seconds() - t0;
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

    if (!cfg_.out_dir.empty() && step_ == 0) write_metrics_row(MetricsRow{}, true);

    while (step_ < total) {
        int64_t epoch = step_ / spe, b = step_ % spe;
        if (epoch != loaded_epoch) {
            loader_.set_epoch(epoch);
            loaded_epoch = epoch;
        }
        if (before_step) before_step(step_);
        double ts = now_seconds();
        data::Batch batch = loader_.batch(b, true);
        apply_lr();
        StepOutput out = loss_fn(model_, batch);
        Tensor loss = out.loss;
        float loss_value = loss.item();
        std::string where = cfg_.out_dir.empty() ? "" : " (last good checkpoint: " + io::join(cfg_.out_dir, "last.safetensors") + ")";
        ENSURE(std::isfinite(loss_value), "non-finite loss ", loss_value, " at step ", step_, " (epoch ", epoch,
               "); stopping", where, ". Try a lower learning rate.");
        optimizer_->zero_grad();
        loss.backward();
        std::string bad;
        double norm_sq = grad_norm_sq(params, bad);
        ENSURE(bad.empty(), "non-finite gradient in '", bad, "' at step ", step_, " (epoch ", epoch, "); stopping",
               where, ". Try a lower learning rate.");
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
        double dt = now_seconds() - ts;
        train_time += dt;
        since_t += dt;
        images_since += out.n_items;

        if (tty && now_seconds() - last_print > 0.25) {
            last_print = now_seconds();
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
        if (!cfg_.out_dir.empty() && (epoch_end || periodic_ckpt || step_ == total)) checkpoint(epoch_end);
    }
    result.steps = step_;
    result.seconds = now_seconds() - t0;
    result.best_val_acc = best_val_acc_;
    result.best_step = best_step_;
    return result;
}

void Trainer::checkpoint(bool) { save_state(io::join(cfg_.out_dir, "last.safetensors")); }

void Trainer::save_state(const std::string& path) const {
    st::File f;
    f.metadata = metadata;
    f.metadata["trainer.step"] = std::to_string(step_);
    f.metadata["trainer.seed"] = std::to_string(cfg_.seed);
    f.metadata["trainer.batch_size"] = std::to_string(cfg_.batch_size);
    f.metadata["trainer.optimizer"] = cfg_.optimizer;
    f.metadata["trainer.optimizer_steps"] = std::to_string(optimizer_->n_steps);
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
    f.write(path);
}

void Trainer::load_state(const std::string& path) {
    st::File f = st::File::read(path);
    auto get_i64 = [&](const std::string& key) { return std::stoll(meta_get(f, key, path)); };
    ENSURE(get_i64("trainer.seed") == int64_t(cfg_.seed), path, ": checkpoint was written with seed ",
           meta_get(f, "trainer.seed", path), ", this run uses ", cfg_.seed);
    ENSURE(get_i64("trainer.batch_size") == cfg_.batch_size, path, ": checkpoint was written with batch size ",
           meta_get(f, "trainer.batch_size", path), ", this run uses ", cfg_.batch_size);
    ENSURE(meta_get(f, "trainer.optimizer", path) == cfg_.optimizer, path, ": checkpoint was written with optimizer ",
           meta_get(f, "trainer.optimizer", path), ", this run uses ", cfg_.optimizer);
    load_module(f, model_, path);
    std::vector<NamedTensor> opt_state;
    for (auto& e : f.entries())
        if (e.name.rfind("optimizer.", 0) == 0) opt_state.emplace_back(e.name.substr(10), f.tensor(e.name));
    optimizer_->load_state_dict(opt_state);
    optimizer_->n_steps = get_i64("trainer.optimizer_steps");
    step_ = get_i64("trainer.step");
    epoch_loss_ = std::stod(meta_get(f, "trainer.epoch_loss", path));
    epoch_correct_ = get_i64("trainer.epoch_correct");
    epoch_seen_ = get_i64("trainer.epoch_seen");
    best_val_acc_ = std::stod(meta_get(f, "trainer.best_val_acc", path));
    best_step_ = get_i64("trainer.best_step");
    std::istringstream rs(meta_get(f, "trainer.op_rng", path));
    std::array<uint64_t, 4> state{};
    for (auto& w : state) ENSURE(bool(rs >> w), path, ": malformed trainer.op_rng metadata");
    op_rng().set_state(state);
    if (load_extra) load_extra(f);
    apply_lr();
}

bool Trainer::resume() {
    if (cfg_.out_dir.empty()) return false;
    std::string path = io::join(cfg_.out_dir, "last.safetensors");
    if (!io::exists(path)) return false;
    load_state(path);
    truncate_metrics_after(step_);
    return true;
}

void Trainer::write_metrics_row(const MetricsRow& r, bool header) {
    if (cfg_.out_dir.empty()) return;
    std::string path = io::join(cfg_.out_dir, "metrics.csv");
    std::ofstream out(path, header ? std::ios::trunc : std::ios::app);
    ENSURE(bool(out), path, ": cannot open for writing");
    if (header) {
        out << "step,epoch,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds,images_per_s\n";
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

void Trainer::truncate_metrics_after(int64_t step) {
    std::string path = io::join(cfg_.out_dir, "metrics.csv");
    if (!io::exists(path)) return;
    std::istringstream in(io::read_text(path));
    std::string line, kept;
    bool first = true;
    while (std::getline(in, line)) {
        if (first || line.empty()) {
            if (first) kept += line + "\n";
            first = false;
            continue;
        }
        if (std::stoll(line.substr(0, line.find(','))) <= step) kept += line + "\n";
    }
    io::write_text_atomic(path, kept);
}

}  // namespace nn
