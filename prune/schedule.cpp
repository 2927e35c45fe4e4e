#include "prune/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nn/check.hpp"
#include "nn/rng.hpp"
#include "nn/safetensors.hpp"

namespace prune {

double iterative_rate(double target_sparsity, int64_t rounds) {
    ENSURE(target_sparsity >= 0.0 && target_sparsity <= 1.0, "iterative pruning: target sparsity ", target_sparsity,
           " is not in [0, 1]");
    ENSURE(rounds >= 1, "iterative pruning: rounds must be >= 1, got ", rounds);
    return 1.0 - std::pow(1.0 - target_sparsity, 1.0 / double(rounds));
}

void AgpSchedule::validate(const std::string& what) const {
    ENSURE(initial_sparsity >= 0.0 && initial_sparsity <= final_sparsity && final_sparsity <= 1.0, what,
           ": AGP needs 0 <= initial <= final <= 1, got ", initial_sparsity, " and ", final_sparsity);
    ENSURE(start_step >= 0 && start_step <= end_step, what, ": AGP needs 0 <= start <= end, got ", start_step, " and ",
           end_step);
    ENSURE(frequency > 0, what, ": AGP frequency must be positive, got ", frequency);
}

double AgpSchedule::sparsity_at(int64_t step) const {
    if (step < start_step) return initial_sparsity;
    if (step >= end_step) return final_sparsity;
    double progress = double(step - start_step) / double(end_step - start_step);
    double r = 1.0 - progress;
    return final_sparsity + (initial_sparsity - final_sparsity) * r * r * r;
}

bool AgpSchedule::is_pruning_step(int64_t step) const {
    return step >= start_step && step <= end_step && (step - start_step) % frequency == 0;
}

std::string schedule_name(ScheduleKind k) {
    switch (k) {
        case ScheduleKind::OneShot: return "oneshot";
        case ScheduleKind::Iterative: return "iterative";
        case ScheduleKind::Agp: return "agp";
    }
    return "?";
}

namespace {

const Amount* own_amount(const PruneSpec& spec, const std::string& name) {
    for (auto& [glob, amount] : spec.layer_amounts)
        if (glob_match(glob, name)) return &amount;
    return nullptr;
}

double as_sparsity(const Amount& a, const std::string& what) {
    ENSURE(!a.is_count(), what, ": a target sparsity must be a fraction, got the count ", a.str());
    return a.value();
}

AgpSchedule agp_of(const Schedule& s, double final_sparsity) {
    return AgpSchedule{s.initial, final_sparsity, s.start, s.end, s.every};
}

}  // namespace

MaskSet decide_to_sparsity(const std::vector<nn::NamedTensor>& params, const MaskSet& current, const PruneSpec& spec,
                           double sparsity, const std::map<std::string, nn::Tensor>& saliency) {
    ENSURE(sparsity >= 0.0 && sparsity <= 1.0, "target sparsity ", sparsity, " is not in [0, 1]");
    MaskSet masks = current.clone();
    PruneSpec one = spec;
    one.layer_amounts.clear();
    std::vector<nn::NamedTensor> pooled;
    int64_t pooled_units = 0, pooled_pruned = 0;
    for (auto& [name, w] : params) {
        const Amount* own = own_amount(spec, name);
        Grouping::Layout layout = spec.granularity.layout(w.shape(), name);
        const nn::Tensor* m = masks.find(name);
        std::vector<uint8_t> alive = unit_alive(m ? *m : nn::Tensor(), layout);
        int64_t n_alive = 0;
        for (uint8_t a : alive) n_alive += a;
        const int64_t pruned = layout.n_groups - n_alive;
        if (spec.global && !own) {
            pooled.emplace_back(name, w);
            pooled_units += layout.n_groups;
            pooled_pruned += pruned;
            continue;
        }
        double s = own ? as_sparsity(*own, name) : sparsity;
        int64_t want = round_half_even(s * double(layout.n_groups));
        one.global = false;
        one.amount = Amount::count(std::clamp<int64_t>(want - pruned, 0, n_alive));
        masks = decide_masks({{name, w}}, masks, one, saliency);
    }
    if (!pooled.empty()) {
        int64_t want = round_half_even(sparsity * double(pooled_units));
        int64_t n_alive = pooled_units - pooled_pruned;
        one.global = true;
        one.amount = Amount::count(std::clamp<int64_t>(want - pooled_pruned, 0, n_alive));
        masks = decide_masks(pooled, masks, one, saliency);
    }
    return masks;
}

double unit_sparsity(const std::vector<nn::NamedTensor>& params, const MaskSet& masks, const Grouping& grouping) {
    int64_t units = 0, pruned = 0;
    for (auto& [name, w] : params) {
        Grouping::Layout layout = grouping.layout(w.shape(), name);
        const nn::Tensor* m = masks.find(name);
        for (uint8_t a : unit_alive(m ? *m : nn::Tensor(), layout)) pruned += !a;
        units += layout.n_groups;
    }
    return units ? double(pruned) / double(units) : 0.0;
}

void attach_masks(nn::Trainer& trainer, MaskSet& masks, const nn::Module& model) {
    std::vector<nn::NamedTensor> params = model.named_parameters();
    auto after_backward = trainer.after_backward;
    trainer.after_backward = [after_backward, params, &masks](int64_t step) {
        if (after_backward) after_backward(step);
        masks.mask_gradients(params);
    };
    auto after_step = trainer.after_step;
    nn::Trainer* t = &trainer;
    trainer.after_step = [after_step, &masks, t](int64_t step) {
        if (after_step) after_step(step);
        masks.enforce(t->optimizer());
    };
    auto save_extra = trainer.save_extra;
    trainer.save_extra = [save_extra, &masks](nn::st::File& f) {
        if (save_extra) save_extra(f);
        masks.put(f);
    };
    auto load_extra = trainer.load_extra;
    trainer.load_extra = [load_extra, params, &masks](const nn::st::File& f) {
        if (load_extra) load_extra(f);
        MaskSet loaded = MaskSet::from_file(f, params, "checkpoint");
        if (!loaded.empty()) masks = loaded;
    };
}

bool fires_at(const Schedule& s, int64_t at) {
    switch (s.kind) {
        case ScheduleKind::OneShot: return at == s.start;
        case ScheduleKind::Iterative:
            return at >= s.start && (at - s.start) % s.every == 0 && (at - s.start) / s.every < s.rounds;
        case ScheduleKind::Agp: return agp_of(s, 1.0).is_pruning_step(at);
    }
    return false;
}

MaskSet scheduled_masks(const ScheduledStep& step, int64_t at, const std::vector<nn::NamedTensor>& params,
                        const MaskSet& current) {
    if (!fires_at(step.schedule, at)) return current;
    std::vector<nn::NamedTensor> picked = pick(params, step.params);
    std::map<std::string, nn::Tensor> saliency;
    if (step.spec.scorer == Scorer::Saliency) {
        ENSURE(bool(step.saliency), step.name, ": the scorer needs saliency scores but none are provided");
        saliency = step.saliency();
    }
    PruneSpec spec = step.spec;
    switch (step.schedule.kind) {
        case ScheduleKind::OneShot: return decide_masks(picked, current, spec, saliency);
        case ScheduleKind::Iterative:
            spec.amount = Amount::fraction(iterative_rate(as_sparsity(spec.amount, step.name), step.schedule.rounds));
            for (auto& [glob, a] : spec.layer_amounts)
                a = Amount::fraction(iterative_rate(as_sparsity(a, step.name), step.schedule.rounds));
            return decide_masks(picked, current, spec, saliency);
        case ScheduleKind::Agp: {
            double s = agp_of(step.schedule, as_sparsity(spec.amount, step.name)).sparsity_at(at);
            for (auto& [glob, a] : spec.layer_amounts)
                a = Amount::fraction(agp_of(step.schedule, as_sparsity(a, step.name)).sparsity_at(at));
            return decide_to_sparsity(picked, current, spec, s, saliency);
        }
    }
    return current;
}

namespace {

// The step of a schedule's last pruning, checked (an iterative schedule's must fit in 64 bits).
int64_t last_pruning_step(const Schedule& s, const std::string& what) {
    ENSURE(s.start >= 0 && s.every > 0 && s.rounds >= 1, what, ": schedule needs start >= 0, every > 0, rounds >= 1");
    switch (s.kind) {
        case ScheduleKind::OneShot: return s.start;
        case ScheduleKind::Iterative:
            ENSURE(s.rounds - 1 <= (std::numeric_limits<int64_t>::max() - s.start) / s.every, what, ": rounds = ", s.rounds,
                   " with start = ", s.start, " and every = ", s.every, " puts the last round beyond step 2^63 - 1");
            return s.start + (s.rounds - 1) * s.every;
        case ScheduleKind::Agp: break;
    }
    ENSURE(s.end >= s.start, what, ": AGP needs start <= end, got ", s.start, " and ", s.end);
    return s.start + (s.end - s.start) / s.every * s.every;
}

}  // namespace

void attach_schedule(nn::Trainer& trainer, std::vector<ScheduledStep>& steps, MaskSet& masks, nn::Module& model) {
    const int64_t total = trainer.total_steps();
    for (auto& st : steps) {
        const Schedule& s = st.schedule;
        if (s.kind == ScheduleKind::Agp) agp_of(s, as_sparsity(st.spec.amount, st.name)).validate(st.name);
        int64_t last = last_pruning_step(s, st.name);
        ENSURE(last < total, st.name, ": the schedule prunes at step ", last, " but training has only ", total,
               " steps (a pruning step must be followed by training)");
    }
    std::vector<nn::NamedTensor> params = model.named_parameters();
    auto before_step = trainer.before_step;
    nn::Trainer* t = &trainer;
    trainer.before_step = [before_step, params, &steps, &masks, t](int64_t at) {
        if (before_step) before_step(at);
        bool changed = false;
        for (auto& st : steps)
            if (fires_at(st.schedule, at)) {
                masks = scheduled_masks(st, at, params, masks);
                changed = true;
            }
        if (changed) masks.enforce(t->optimizer());
    };
}

MaskSet offline_masks(const ScheduledStep& step, const std::vector<nn::NamedTensor>& params, const MaskSet& current) {
    const Schedule& s = step.schedule;
    ENSURE(s.kind != ScheduleKind::Agp, step.name, ": an AGP schedule needs training between its pruning steps");
    if (s.kind == ScheduleKind::OneShot) return scheduled_masks(step, s.start, params, current);
    last_pruning_step(s, step.name);
    MaskSet masks = current;
    for (int64_t k = 0; k < s.rounds; k++) masks = scheduled_masks(step, s.start + k * s.every, params, masks);
    return masks;
}

// ---- initialisation ------------------------------------------------------------------------------------

Snapshot Snapshot::take(const nn::Module& model) {
    Snapshot s;
    for (auto& [name, t] : model.named_parameters()) s.values_.emplace_back(name, t.clone());
    return s;
}

void Snapshot::restore(const nn::Module& model) const {
    auto params = model.named_parameters();
    ENSURE(params.size() == values_.size(), "snapshot holds ", values_.size(), " tensors, the model has ", params.size(),
           " parameters");
    for (auto& [name, value] : values_) {
        nn::Tensor p = model.parameter(name);
        ENSURE(p.shape() == value.shape(), "snapshot of '", name, "' has shape ", value.shape(), ", the model has ", p.shape());
        p.copy_(value);
    }
}

void Snapshot::save(const std::string& path, const std::map<std::string, std::string>& metadata) const {
    nn::st::File f;
    f.metadata = metadata;
    for (auto& [name, t] : values_) f.put(name, t);
    f.write(path);
}

Snapshot Snapshot::load(const std::string& path) {
    nn::st::File f = nn::st::File::read(path);
    Snapshot s;
    for (auto& e : f.entries()) s.values_.emplace_back(e.name, f.tensor(e.name));
    return s;
}

MaskSet random_masks_like(const MaskSet& masks, uint64_t seed) {
    MaskSet out;
    for (auto& [name, m] : masks.masks()) {
        int64_t kept = 0;
        for (float v : m.to_vector()) kept += v != 0.0f;
        nn::Rng rng = nn::Rng(seed).fork(nn::hash64(name.data(), name.size()));
        std::vector<int64_t> perm = rng.permutation(m.numel());
        nn::Tensor r = nn::Tensor::zeros(m.shape());
        for (int64_t k = 0; k < kept; k++) r.data()[perm[size_t(k)]] = 1.0f;
        out.set(name, r);
    }
    return out;
}

}  // namespace prune
