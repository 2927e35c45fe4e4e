#include "experiments/crash.hpp"

#include <signal.h>

#include <cstdlib>

#include "nn/check.hpp"
#include "nn/io.hpp"

namespace experiments {

namespace {

// Set once the crash step has been reached; the rename hook then kills at the first checkpoint file.
CrashPoint::Where g_where = CrashPoint::Where::AfterStep;
bool g_armed = false;

std::string basename_of(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

void kill_before_rename(const std::string& path) {
    if (!g_armed) return;
    std::string name = basename_of(path);
    bool numbered = name.rfind("checkpoint-", 0) == 0, last = name == "last.safetensors";
    if ((g_where == CrashPoint::Where::CheckpointWrite && (numbered || last)) ||
        (g_where == CrashPoint::Where::CheckpointLink && last))
        ::raise(SIGKILL);
}

}  // namespace

CrashPoint CrashPoint::parse(const std::string& text) {
    CrashPoint p;
    if (text.empty()) return p;
    size_t colon = text.find(':');
    std::string step = text.substr(0, colon), where = colon == std::string::npos ? "" : text.substr(colon + 1);
    char* end = nullptr;
    long long s = std::strtoll(step.c_str(), &end, 10);
    ENSURE(!step.empty() && *end == 0 && s > 0, "--crash-at '", text, "': expected STEP, STEP:write or STEP:link with STEP > 0");
    p.step = s;
    if (where == "write") p.where = Where::CheckpointWrite;
    else if (where == "link") p.where = Where::CheckpointLink;
    else ENSURE(where.empty(), "--crash-at '", text, "': unknown point '", where, "' (expected write or link)");
    return p;
}

void arm_crash(const CrashPoint& point, nn::Trainer& trainer) {
    if (point.step < 0) return;
    ENSURE(point.where != CrashPoint::Where::CheckpointLink || trainer.config().keep_checkpoints > 0,
           "--crash-at ", point.step, ":link needs --keep-checkpoints > 0 (there is no link to crash in)");
    auto previous = trainer.after_step;
    trainer.after_step = [point, previous](int64_t step) {
        if (previous) previous(step);
        if (step != point.step) return;
        if (point.where == CrashPoint::Where::AfterStep) ::raise(SIGKILL);
        g_where = point.where;
        g_armed = true;
        nn::io::set_before_rename_hook(kill_before_rename);
    };
}

ImpCrashPoint ImpCrashPoint::parse(const std::string& text) {
    ImpCrashPoint p;
    if (text.empty()) return p;
    size_t slash = text.find('/');
    ENSURE(slash != std::string::npos, "--crash-at '", text, "': expected LEVEL/POINT (POINT: STEP, STEP:write, "
           "STEP:link, model or done)");
    std::string level = text.substr(0, slash), point = text.substr(slash + 1);
    char* end = nullptr;
    long long l = std::strtoll(level.c_str(), &end, 10);
    ENSURE(!level.empty() && *end == 0 && l >= 0, "--crash-at '", text, "': LEVEL must be an integer >= 0");
    p.level = l;
    if (point == "model" || point == "done") p.after = point;
    else p.train = CrashPoint::parse(point);
    ENSURE(!p.after.empty() || p.train.step > 0, "--crash-at '", text, "': missing POINT after the level");
    return p;
}

void arm_crash(const ImpCrashPoint& point, prune::ImpConfig& cfg) {
    if (point.level < 0) return;
    if (point.after.empty()) {
        cfg.on_trainer = [point](int64_t level, nn::Trainer& trainer) {
            if (level == point.level) arm_crash(point.train, trainer);
        };
    } else {
        cfg.on_written = [point](int64_t level, const std::string& file) {
            if (level == point.level && file == point.after) ::raise(SIGKILL);
        };
    }
}

}  // namespace experiments
