// When to prune and where training restarts from. Schedules: one-shot; iterative (n rounds of rate
// 1 - (1 - P)^(1/n) reaching sparsity P, training between rounds); gradual AGP (Zhu & Gupta 2017,
// "To prune, or not to prune"): s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3 at t = t0, t0 + dt,
// ..., t0 + n dt. Initialisation after pruning: preserve (fine-tune), rewind to theta_0 or theta_k
// (Frankle & Carbin 2019; Frankle et al. 2020), random re-initialisation and random masks of equal
// per-layer density (the controls). Also the explicit wiring of masks into nn::Trainer's hooks.
// Not here: the IMP loop (imp.hpp), the recipe text (recipe.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nn/module.hpp"
#include "nn/trainer.hpp"
#include "prune/mask.hpp"
#include "prune/pruner.hpp"

namespace prune {

// Fraction of the survivors to prune in each of `rounds` rounds to reach `target_sparsity` overall.
double iterative_rate(double target_sparsity, int64_t rounds);

struct AgpSchedule {
    double initial_sparsity = 0.0;  // s_i
    double final_sparsity = 0.0;    // s_f
    int64_t start_step = 0;         // t0
    int64_t end_step = 0;           // t0 + n dt
    int64_t frequency = 1;          // dt
    void validate(const std::string& what) const;  // 0 <= s_i <= s_f <= 1, start <= end, frequency > 0
    double sparsity_at(int64_t step) const;        // s_i before t0, s_f after the end
    bool is_pruning_step(int64_t step) const;      // t0 + k dt <= end
};

enum class ScheduleKind { OneShot, Iterative, Agp };
std::string schedule_name(ScheduleKind k);

// When a pruning step fires in training. amount (in PruneSpec) means: OneShot, a PyTorch amount at
// `start`; Iterative, the overall target sparsity P (a fraction) reached after `rounds` rounds at
// start, start + every, ...; Agp, the final sparsity s_f (with `initial` = s_i, up to `end`).
struct Schedule {
    ScheduleKind kind = ScheduleKind::OneShot;
    int64_t start = 0, end = 0, every = 1, rounds = 1;
    double initial = 0.0;
};

// Masks the units of `params` (spec.granularity) until `sparsity` of all their units are pruned,
// each target on its own or (spec.global) together; never un-prunes.
MaskSet decide_to_sparsity(const std::vector<nn::NamedTensor>& params, const MaskSet& current, const PruneSpec& spec,
                           double sparsity, const std::map<std::string, nn::Tensor>& saliency = {});

// Sparsity of `params` in units of `grouping` (pruned units / all units), from `masks`.
double unit_sparsity(const std::vector<nn::NamedTensor>& params, const MaskSet& masks, const Grouping& grouping);

// ---- wiring into training ------------------------------------------------------------------------------
// Chains onto whatever hooks are set: after_backward masks the gradients, after_step enforces the
// masks on weights, gradients and optimizer state, save_extra writes the masks into checkpoints and
// load_extra restores them (when the checkpoint holds any). `masks` and `model` must outlive the
// trainer; later changes to `masks` are seen by the hooks.
void attach_masks(nn::Trainer& trainer, MaskSet& masks, const nn::Module& model);

// A pruning step that fires during training on its schedule (one-shot at `start`, iterative
// rounds, AGP), deciding new masks over `params` and enforcing them at once. `saliency` supplies
// element scores when spec.scorer is Saliency (Taylor, SNIP, movement: scorers.hpp).
struct ScheduledStep {
    std::string name;
    std::vector<std::string> params;
    PruneSpec spec;
    Schedule schedule;
    std::function<std::map<std::string, nn::Tensor>()> saliency;
};
// Whether the schedule prunes once `at` optimizer steps have been taken.
bool fires_at(const Schedule& schedule, int64_t at);
// The masks after the step's pruning at step `at` (`current` when it does not fire then); `params`
// are the model's parameters (the step picks its own).
MaskSet scheduled_masks(const ScheduledStep& step, int64_t at, const std::vector<nn::NamedTensor>& params,
                        const MaskSet& current);
// Fires the steps from the trainer's before_step hook (a step scheduled at t acts after t optimizer
// steps, t = 0 before training; a resumed run fires it exactly once) and enforces new masks at once
// on weights and optimizer state. Steps that would fire at or after the last training step are an
// error. Call attach_masks first; `steps`, `masks` and `model` must outlive the trainer.
void attach_schedule(nn::Trainer& trainer, std::vector<ScheduledStep>& steps, MaskSet& masks, nn::Module& model);
// Without training (pruning a weights file): one-shot once, iterative rounds back to back; AGP,
// which needs training between its steps, is an error.
MaskSet offline_masks(const ScheduledStep& step, const std::vector<nn::NamedTensor>& params, const MaskSet& current);

// ---- initialisation after pruning ------------------------------------------------------------------------
// Parameter values at one moment (theta_0 at initialisation, theta_k at step k), to rewind to.
class Snapshot {
public:
    static Snapshot take(const nn::Module& model);
    void restore(const nn::Module& model) const;  // copies every parameter back (shapes checked)
    void save(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;
    static Snapshot load(const std::string& path);
    const std::vector<nn::NamedTensor>& values() const { return values_; }

private:
    std::vector<nn::NamedTensor> values_;
};

// Masks with the same number of kept elements per tensor as `masks`, at random positions (seeded
// per tensor name): the random-pruning control of Frankle & Carbin.
MaskSet random_masks_like(const MaskSet& masks, uint64_t seed);

}  // namespace prune
