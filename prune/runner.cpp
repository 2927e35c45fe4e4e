#include "prune/runner.hpp"

#include <cmath>

#include "nn/check.hpp"
#include "prune/schedule.hpp"

namespace prune {

RecipeRunner::RecipeRunner(const Recipe& recipe, nn::Module& model, const data::Dataset& train, uint64_t seed)
    : recipe_(recipe), model_(model), train_(train), seed_(seed) {
    auto params = model.named_parameters();
    std::vector<std::string> names;
    for (auto& [n, t] : params) names.push_back(n);
    for (const RecipeStep& rs : recipe_.steps) {
        ScheduledStep st = to_scheduled(recipe_, rs, names);
        const MaskSet* masks = &masks_;
        nn::Module* m = &model_;
        const data::Dataset* ds = &train_;
        std::vector<std::string> picked = st.params;
        uint64_t step_seed = seed_ ^ (uint64_t(rs.line) * 0x9e3779b97f4a7c15ULL);
        switch (rs.saliency) {
            case Saliency::None: break;
            case Saliency::Taylor: {
                int64_t batches = rs.batches, batch_size = rs.batch_size;
                st.saliency = [=]() { return taylor_saliency(*m, *ds, picked, batch_size, batches, step_seed, masks); };
                break;
            }
            case Saliency::Snip: {
                int64_t batch_size = rs.batch_size;
                st.saliency = [=]() { return snip_saliency(*m, *ds, picked, batch_size, step_seed, masks); };
                break;
            }
            case Saliency::Movement: {
                trackers_.push_back(std::make_unique<SaliencyTracker>(Saliency::Movement, pick(params, picked)));
                SaliencyTracker* t = trackers_.back().get();
                st.saliency = [t]() {
                    auto scores = t->scores();
                    t->reset();
                    return scores;
                };
                break;
            }
        }
        steps_.push_back(std::move(st));
    }
}

void RecipeRunner::attach(nn::Trainer& trainer) {
    attach_masks(trainer, masks_, model_);
    if (!trackers_.empty()) {
        auto after_step = trainer.after_step;
        trainer.after_step = [after_step, this](int64_t step) {
            if (after_step) after_step(step);
            for (auto& t : trackers_) t->accumulate();
        };
    }
    attach_schedule(trainer, steps_, masks_, model_);
}

std::map<std::string, double> RecipeRunner::final_targets() const {
    std::map<std::string, double> out;
    auto params = model_.named_parameters();
    for (auto& st : steps_) {
        for (auto& name : st.params) {
            // A layer's own amount (first matching glob) is its target; otherwise the step's amount,
            // unless the step ranks globally. Counts have no fractional target.
            const Amount* a = st.spec.global ? nullptr : &st.spec.amount;
            for (auto& [glob, own] : st.spec.layer_amounts)
                if (glob_match(glob, name)) {
                    a = &own;
                    break;
                }
            if (!a || a->is_count()) continue;
            double s = a->value();
            double before = out.count(name) ? out[name] : 0.0;
            // one-shot amounts are fractions of the survivors; iterative and AGP amounts are targets
            out[name] = st.schedule.kind == ScheduleKind::OneShot ? before + (1.0 - before) * s : std::max(before, s);
        }
    }
    return out;
}

}  // namespace prune
