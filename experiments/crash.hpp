// Fault injection for the crash tests: `--crash-at POINT` makes a training command kill itself with
// SIGKILL at a chosen instant, exactly as `kill -9` would, so a test can resume it and compare with an
// uninterrupted run. Deterministic, unlike a kill from outside (the tests do that too). Points:
//   STEP        right after the optimizer update of step STEP, before its evaluation and checkpoint
//   STEP:write  inside the atomic write of the first checkpoint at or after step STEP: the temporary
//               file is complete and synced, the rename has not happened
//   STEP:link   after that checkpoint-<step>.safetensors is in place, before last.safetensors points
//               at it
// `secateurs imp --crash-at LEVEL/POINT` takes one of those points inside the training of level LEVEL,
// or one of two instants after it:
//   LEVEL/model  the level's model.safetensors is in place, its done file is not
//   LEVEL/done   the level is finished (done file, imp.csv), the next level has not started
// Not for users: it exists to prove that no instant of a run is unsafe to kill.
#pragma once

#include <cstdint>
#include <string>

#include "nn/trainer.hpp"
#include "prune/imp.hpp"

namespace experiments {

struct CrashPoint {
    enum class Where { AfterStep, CheckpointWrite, CheckpointLink };
    int64_t step = -1;  // -1: never
    Where where = Where::AfterStep;
    // "" (never), "STEP", "STEP:write" or "STEP:link"; throws naming the text otherwise.
    static CrashPoint parse(const std::string& text);
};

// Installs the crash into the trainer's after_step hook (chaining any hook already there) and, for the
// checkpoint points, into nn::io's before-rename hook. Does nothing for a point that never fires.
void arm_crash(const CrashPoint& point, nn::Trainer& trainer);

struct ImpCrashPoint {
    int64_t level = -1;     // -1: never
    CrashPoint train;       // inside the level's training, or ...
    std::string after;      // ... "model" or "done" (then train.step is -1)
    // "" (never) or "LEVEL/POINT"; throws naming the text otherwise.
    static ImpCrashPoint parse(const std::string& text);
};

// Installs the crash into the IMP driver's hooks (replacing cfg.on_trainer and cfg.on_written).
void arm_crash(const ImpCrashPoint& point, prune::ImpConfig& cfg);

}  // namespace experiments
