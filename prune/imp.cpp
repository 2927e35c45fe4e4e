#include "prune/imp.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/rng.hpp"
#include "prune/mask.hpp"
#include "prune/pruner.hpp"
#include "prune/report.hpp"
#include "prune/schedule.hpp"

namespace prune {

namespace {

const char kCsvHeader[] = "level,density,total_density,test_acc,test_loss,best_val_acc,best_step,final_val_acc,steps,seconds";

// The shortest text that reads back as exactly `v` (a resumed run must see the numbers it wrote).
std::string exact(double v) {
    char buf[32];
    for (int digits = 6; digits <= 17; digits++) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

std::string csv_row(const ImpLevel& l) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", l.seconds);
    return std::to_string(l.level) + "," + exact(l.density) + "," + exact(l.total_density) + "," + exact(l.test_acc) +
           "," + exact(l.test_loss) + "," + exact(l.best_val_acc) + "," + std::to_string(l.best_step) + "," +
           exact(l.final_val_acc) + "," + std::to_string(l.steps) + "," + seconds;
}

ImpLevel parse_row(const std::string& line, const std::string& where) {
    ImpLevel l;
    long long level = 0, best = 0, steps = 0;
    int n = std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf,%lf,%lld,%lf,%lld,%lf", &level, &l.density, &l.total_density,
                        &l.test_acc, &l.test_loss, &l.best_val_acc, &best, &l.final_val_acc, &steps, &l.seconds);
    ENSURE(n == 10, where, ": malformed IMP result line '", line, "'");
    l.level = level;
    l.best_step = best;
    l.steps = steps;
    return l;
}

std::string level_dir(const std::string& run_dir, int64_t level) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "level_%02" PRId64, level);
    return nn::io::join(run_dir, buf);
}

// "init" -> 0, "step:K" -> K, "none" -> -1.
int64_t parse_rewind(const std::string& text) {
    if (text == "init") return 0;
    if (text == "none") return -1;
    if (text.rfind("step:", 0) == 0) {
        const char* s = text.c_str() + 5;
        char* end = nullptr;
        long long k = std::strtoll(s, &end, 10);
        ENSURE(end != s && *end == '\0' && k >= 0, "--rewind '", text, "': expected step:K with K >= 0");
        return k;
    }
    RAISE("--rewind '", text, "': expected init, step:K or none");
}

void copy_weights(const nn::Module& from, const nn::Module& to) {
    for (auto& [name, t] : from.named_parameters()) to.parameter(name).copy_(t);
}

}  // namespace

std::string ImpConfig::describe() const {
    std::ostringstream os;
    auto list = [](const std::vector<std::string>& v) {
        std::string s;
        for (auto& x : v) s += (s.empty() ? "" : ",") + x;
        return s;
    };
    const nn::TrainConfig& t = train;
    os << "model=" << model << "\nseed=" << seed << "\nrate=" << rate << "\noutput_rate=" << output_rate
       << "\nglobal=" << global << "\nrewind=" << rewind << "\ncontrol=" << control << "\nparams=" << list(params)
       << "\nignore=" << list(ignore) << "\nepochs=" << t.epochs << "\nbatch_size=" << t.batch_size
       << "\noptimizer=" << t.optimizer << "\nlr=" << t.lr << "\nmomentum=" << t.momentum
       << "\nweight_decay=" << t.weight_decay << "\nschedule=" << t.schedule << "\nwarmup=" << t.warmup_fraction
       << "\neval_every=" << t.eval_every << "\nmax_steps=" << t.max_steps << "\nfinetune_lr=" << finetune_lr
       << "\nfinetune_epochs=" << finetune_epochs << "\n";
    return os.str();
}

std::vector<ImpLevel> read_imp_csv(const std::string& path) {
    std::istringstream in(nn::io::read_text(path));
    std::string line;
    std::vector<ImpLevel> out;
    ENSURE(std::getline(in, line) && line == kCsvHeader, path, ": not an IMP results file (unexpected header)");
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(parse_row(line, path));
    return out;
}

std::vector<ImpLevel> run_imp(const ImpConfig& cfg, const data::Dataset& train, const data::Dataset& val,
                              const data::Dataset& test) {
    ENSURE(!cfg.out_dir.empty(), "IMP needs an output directory");
    ENSURE(cfg.levels >= 0, "IMP: levels must be >= 0, got ", cfg.levels);
    ENSURE(cfg.rate >= 0.0 && cfg.rate <= 1.0, "IMP: rate ", cfg.rate, " is not in [0, 1]");
    ENSURE(cfg.output_rate <= 1.0, "IMP: output rate ", cfg.output_rate, " is above 1");
    ENSURE(cfg.control.empty() || cfg.control == "reinit" || cfg.control == "random-mask", "IMP: control '", cfg.control,
           "' must be reinit or random-mask");
    const int64_t rewind_step = parse_rewind(cfg.rewind);
    const bool controlled = !cfg.control.empty();
    ENSURE(!controlled || rewind_step >= 0, "IMP: the controls retrain from scratch; use them with --rewind init or step:K");

    const std::string root = cfg.out_dir;
    const std::string run_dir = controlled ? nn::io::join(root, "control-" + cfg.control) : root;
    nn::io::make_dirs(run_dir);
    const std::string config_path = nn::io::join(run_dir, "config.txt");
    if (nn::io::exists(config_path)) {
        std::string old = nn::io::read_text(config_path);
        ENSURE(old == cfg.describe(), config_path, ": this run directory holds an IMP run with a different configuration:\n",
               old, "now:\n", cfg.describe(), "(use another --out, or the same options to resume)");
    } else {
        nn::io::write_text_atomic(config_path, cfg.describe());
    }

    auto net = nn::make_model(cfg.model, cfg.seed);
    const std::string arch = nn::ModelSpec::parse(cfg.model).str();
    const auto all = net->named_parameters();
    std::vector<std::string> all_names;
    for (auto& [n, t] : all) all_names.push_back(n);
    std::vector<std::string> names =
        cfg.params.empty() ? default_prunable(all) : select_names(all_names, cfg.params, {}, "IMP --params");
    if (!cfg.ignore.empty()) {
        std::vector<std::string> kept = select_names(names, {"*"}, cfg.ignore, "IMP --ignore");
        names = kept;
    }
    ENSURE(!names.empty(), "IMP: no parameters to prune");
    const std::string output = output_layer(all);

    PruneSpec spec;
    spec.global = cfg.global;
    spec.amount = Amount::fraction(cfg.rate);
    bool output_pruned = false;
    for (auto& n : names) output_pruned = output_pruned || n == output;
    if (cfg.output_rate >= 0.0 && output_pruned) spec.layer_amounts = {{output, Amount::fraction(cfg.output_rate)}};

    // theta_0 (shared with the controls) and theta_k.
    const std::string theta0_path = nn::io::join(root, "theta_0.safetensors");
    if (!nn::io::exists(theta0_path)) Snapshot::take(*net).save(theta0_path, {{"arch", arch}});
    const Snapshot theta0 = Snapshot::load(theta0_path);
    const std::string thetak_path = nn::io::join(root, "theta_k.safetensors");

    // Finished levels, from their done files.
    std::vector<ImpLevel> results;
    int64_t next = controlled ? 1 : 0;
    while (next <= cfg.levels) {
        std::string done = nn::io::join(level_dir(run_dir, next), "done");
        if (!nn::io::exists(done)) break;
        std::string line = nn::io::read_text(done);
        while (!line.empty() && line.back() == '\n') line.pop_back();
        results.push_back(parse_row(line, done));
        next++;
    }
    auto write_csv = [&]() {
        std::string text = std::string(kCsvHeader) + "\n";
        for (auto& r : results) text += csv_row(r) + "\n";
        nn::io::write_text_atomic(nn::io::join(run_dir, "imp.csv"), text);
    };
    write_csv();

    for (int64_t level = next; level <= cfg.levels; level++) {
        const std::string dir = level_dir(run_dir, level);
        nn::io::make_dirs(dir);
        const std::string masks_path = nn::io::join(dir, "masks.safetensors");
        const std::string prev_model = nn::io::join(level_dir(run_dir, level - 1), "model.safetensors");
        MaskSet masks;
        if (level > 0) {
            if (controlled) {
                std::string ticket = nn::io::join(level_dir(root, level), "masks.safetensors");
                ENSURE(nn::io::exists(ticket), ticket, ": the control needs the ticket's masks; run the same imp "
                       "command without --control first");
                masks = MaskSet::from_file(nn::st::File::read(ticket), all, ticket);
                if (cfg.control == "random-mask") masks = random_masks_like(masks, cfg.seed * 1000003ULL + uint64_t(level));
            } else if (nn::io::exists(masks_path)) {
                masks = MaskSet::from_file(nn::st::File::read(masks_path), all, masks_path);
            } else {
                nn::st::File prev = nn::load_model(prev_model, *net);
                MaskSet prev_masks = MaskSet::from_file(prev, all, prev_model);
                masks = decide_masks(pick(all, names), prev_masks, spec);
            }
            nn::st::File mf;
            mf.metadata["arch"] = arch;
            masks.put(mf);
            mf.write(masks_path);
        }

        // Starting weights of the level (a resumed level overwrites them from its checkpoint).
        nn::TrainConfig tc = cfg.train;
        tc.out_dir = dir;
        if (level == 0) {
            theta0.restore(*net);
        } else if (cfg.control == "reinit") {
            auto fresh = nn::make_model(cfg.model, nn::hash64("reinit", 6, cfg.seed * 1000003ULL + uint64_t(level)));
            copy_weights(*fresh, *net);
        } else if (rewind_step == 0) {
            theta0.restore(*net);
        } else if (rewind_step > 0) {
            ENSURE(nn::io::exists(thetak_path), thetak_path, ": missing (it is written at step ", rewind_step,
                   " of the dense level)");
            Snapshot::load(thetak_path).restore(*net);
            tc.start_step = rewind_step;
        } else {  // preserve: fine-tune the previous level's weights
            nn::load_model(prev_model, *net);
            if (cfg.finetune_lr > 0.0f) tc.lr = cfg.finetune_lr;
            if (cfg.finetune_epochs > 0) tc.epochs = cfg.finetune_epochs;
        }
        masks.apply(*net);

        nn::Trainer trainer(*net, tc, train, &val, &test);
        trainer.metadata["arch"] = arch;
        trainer.metadata["imp.level"] = std::to_string(level);
        attach_masks(trainer, masks, *net);
        if (level == 0 && rewind_step > 0) {
            ENSURE(rewind_step < trainer.total_steps(), "--rewind step:", rewind_step, " is beyond the ",
                   trainer.total_steps(), " steps of training");
            nn::Module* m = net.get();
            trainer.before_step = [m, rewind_step, thetak_path, arch](int64_t at) {
                if (at == rewind_step && !nn::io::exists(thetak_path))
                    Snapshot::take(*m).save(thetak_path, {{"arch", arch}, {"step", std::to_string(at)}});
            };
        }
        if (cfg.on_trainer) cfg.on_trainer(level, trainer);
        trainer.resume();
        nn::TrainResult r = trainer.fit();
        // Resumed at the level's last step (killed between its final checkpoint and model.safetensors):
        // fit() had nothing to run; the final evaluations are those of the restored weights.
        if (r.final_val.n == 0) r.final_val = nn::evaluate(*net, val);
        if (r.final_test.n == 0 && tc.eval_test) r.final_test = nn::evaluate(*net, test);

        ImpLevel row;
        row.level = level;
        row.density = level == 0 ? 1.0 : double(masks.n_kept(names)) / double(masks.n_total(names));
        int64_t total = 0, pruned = 0;
        for (auto& [n, t] : all) total += t.numel();
        for (auto& [n, m] : masks.masks()) pruned += m.numel() - masks.n_kept({n});
        row.total_density = 1.0 - double(pruned) / double(total);
        row.test_acc = r.final_test.accuracy;
        row.test_loss = r.final_test.loss;
        row.final_val_acc = r.final_val.accuracy;
        row.best_val_acc = r.best_val_acc;
        row.best_step = r.best_step;
        row.steps = r.steps;
        row.seconds = r.seconds;

        nn::st::File out;
        out.metadata = trainer.metadata;
        nn::put_module(out, *net);
        masks.put(out);
        out.write(nn::io::join(dir, "model.safetensors"));
        if (cfg.on_written) cfg.on_written(level, "model");
        std::map<std::string, double> targets;
        if (!cfg.global && level > 0)
            for (auto& n : names) {
                double rate = (n == output && cfg.output_rate >= 0.0) ? cfg.output_rate : cfg.rate;
                targets[n] = 1.0 - std::pow(1.0 - rate, double(level));
            }
        nn::io::write_text_atomic(nn::io::join(dir, "report.csv"), report_csv(make_report(all, masks, targets)));
        nn::io::write_text_atomic(nn::io::join(dir, "done"), csv_row(row) + "\n");
        results.push_back(row);
        write_csv();
        if (cfg.on_written) cfg.on_written(level, "done");
        if (cfg.progress) {
            std::printf("level %2" PRId64 "  density %6.2f%%  test acc %.2f%%  best val acc %.2f%% at step %" PRId64
                        "  (%.1f s)\n",
                        level, 100.0 * row.density, 100.0 * row.test_acc, 100.0 * row.best_val_acc, row.best_step,
                        row.seconds);
            std::fflush(stdout);
        }
    }
    return results;
}

}  // namespace prune
