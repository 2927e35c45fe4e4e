// secateurs sensitivity / allocate / thin / flops: structured pruning from the command line — the
// layer x ratio sensitivity grid of a checkpoint (shardable, with a merge), per-layer ratios from
// its curves written as a recipe, physical removal of pruned units, and params / MACs per layer.
#include <cstdio>
#include <cstdlib>

#include "data/dataset.hpp"
#include "experiments/args.hpp"
#include "experiments/cli.hpp"
#include "experiments/harness.hpp"
#include "experiments/thin_tools.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/trainer.hpp"
#include "prune/sensitivity.hpp"
#include "prune/thin.hpp"

namespace experiments {

std::string checkpoint_spec(const nn::st::File& file, const std::string& path, const std::string& spec_flag) {
    if (!spec_flag.empty()) return spec_flag;
    auto arch = file.metadata.find("arch");
    ENSURE(arch != file.metadata.end(), path, ": no \"arch\" metadata; name the architecture with --model");
    return arch->second;
}

Loaded load_checkpoint(const std::string& path, const std::string& spec_flag) {
    return load_checkpoint(nn::st::File::read(path), path, spec_flag);
}

Loaded load_checkpoint(nn::st::File file, const std::string& path, const std::string& spec_flag) {
    Loaded l;
    l.file = std::move(file);
    l.spec = checkpoint_spec(l.file, path, spec_flag);
    l.model = nn::make_model(l.spec, 0);
    nn::load_module(l.file, *l.model, path);
    l.masks = prune::MaskSet::from_file(l.file, l.model->named_parameters(), path);
    return l;
}

namespace {

std::vector<double> parse_ratio_list(const std::string& text) {
    std::vector<double> out;
    for (auto& item : prune::split_list(text)) {
        char* end = nullptr;
        double v = std::strtod(item.c_str(), &end);
        ENSURE(*end == '\0' && v > 0.0 && v < 1.0, "--ratios: '", item, "' is not a ratio in (0, 1)");
        out.push_back(v);
    }
    return out;
}

}  // namespace

int cmd_sensitivity(const Argv& argv) {
    std::string ckpt, spec, granularity = "filter", ratios, params, shard = "1/1", out = "sensitivity.csv", merge, svg;
    int64_t n_val = 5000, batch = 512;
    int threads = 1;
    uint64_t split_seed = 0;
    Args args("secateurs sensitivity",
              "Per-layer sensitivity of a trained checkpoint: for every prunable layer and ratio, prune that layer\n"
              "alone by L1 magnitude (elements, or the filters / neurons / heads of its dependency group with their\n"
              "BatchNorm entries), evaluate on the validation split held out of the training set (never the test\n"
              "set), restore. Writes CSV parameter,granularity,ratio,accuracy,loss and an SVG of the curves.\n"
              "--shard K/N runs every N-th point; --merge A.csv,B.csv,... combines the shards' files.");
    args.add("ckpt", &ckpt, "trained checkpoint (.safetensors with \"arch\" metadata)")
        .add("model", &spec, "model spec (default: the checkpoint's \"arch\")")
        .add("granularity", &granularity, "filter (channels / neurons / heads) or element")
        .add("ratios", &ratios, "comma-separated ratios (default 0.1..0.9; element adds 0.95, 0.99)")
        .add("params", &params, "comma-separated globs of the layers to analyse (default: all)")
        .add("shard", &shard, "K/N: run the K-th of N slices of the grid")
        .add("merge", &merge, "comma-separated shard CSVs to merge into --out (no evaluation)")
        .add("val", &n_val, "training examples held out for validation (as in secateurs train)")
        .add("split-seed", &split_seed, "seed of the validation split (0: the checkpoint's trainer.seed, else 1)")
        .add("batch-size", &batch, "evaluation batch")
        .add("threads", &threads, "worker threads (0: all cores)")
        .add("out", &out, "output CSV")
        .add("svg", &svg, "curves as SVG (default: --out with .svg)");
    if (!args.parse(argv)) return 0;
    if (svg.empty()) svg = (out.size() > 4 && out.substr(out.size() - 4) == ".csv" ? out.substr(0, out.size() - 4) : out) + ".svg";
    std::vector<prune::SensitivityRow> rows;
    std::string title;
    if (!merge.empty()) {
        ENSURE(ckpt.empty(), "--merge combines CSVs; it takes no --ckpt");
        std::vector<std::vector<prune::SensitivityRow>> shards;
        for (auto& path : prune::split_list(merge)) shards.push_back(prune::parse_sensitivity_csv(nn::io::read_text(path), path));
        rows = prune::merge_sensitivity(shards);
        title = "Sensitivity (merged)";
    } else {
        ENSURE(!ckpt.empty(), "--ckpt FILE is required (or --merge)");
        apply_threads(threads);
        Loaded l = load_checkpoint(ckpt, spec);
        ENSURE(l.masks.empty(), ckpt, ": has pruning masks; analyse the dense checkpoint");
        if (split_seed == 0) {
            auto it = l.file.metadata.find("trainer.seed");
            split_seed = it == l.file.metadata.end() ? 1 : std::stoull(it->second);
        }
        prune::SensitivityOptions o;
        o.granularity = granularity;
        o.ratios = parse_ratio_list(ratios);
        o.params = prune::split_list(params);
        parse_shard(shard, o.shard_index, o.shard_count);
        o.batch_size = batch;
        o.progress = [](const std::string& s) { std::printf("  %s\n", s.c_str()); std::fflush(stdout); };
        data::ImageDataset full = data::load_fashion_mnist("train");
        ENSURE(n_val > 0 && n_val < full.size(), "--val must be in 1..", full.size() - 1);
        auto split = data::split_validation(full, n_val, split_seed);
        std::printf("%s: %s sensitivity on %lld validation images (split seed %llu), shard %s\n", l.spec.c_str(),
                    granularity.c_str(), (long long)n_val, (unsigned long long)split_seed, shard.c_str());
        rows = prune::sensitivity(l.spec, *l.model, split.second, o);
        title = l.spec + ": " + granularity + " sensitivity";
    }
    nn::io::write_text_atomic(out, prune::sensitivity_csv(rows));
    nn::io::write_text_atomic(svg, sensitivity_svg(rows, title));
    std::printf("wrote %s (%zu rows) and %s\n", out.c_str(), rows.size(), svg.c_str());
    return 0;
}

int cmd_allocate(const Argv& argv) {
    std::string csv, budget, out = "recipe.txt", spec;
    bool stages = false;
    Args args("secateurs allocate",
              "Per-layer pruning ratios from a sensitivity CSV, written as a recipe for secateurs prune:\n"
              "  --budget drop:0.01    each layer's largest ratio losing <= 1 point of validation accuracy\n"
              "  --budget params:0.5   remove 50% of the parameters (needs --model): the common accuracy-drop\n"
              "  --budget flops:0.4    threshold found by bisection; flops counts MACs. Filter ratios thin whole\n"
              "                        groups (the next layer's inputs go too).\n"
              "--stages gives layers with the same output size one ratio (the smallest), as Li et al. advise.");
    args.add("sensitivity", &csv, "sensitivity CSV (merged)")
        .add("budget", &budget, "drop:D, params:F or flops:F")
        .add("model", &spec, "model spec (for params / flops budgets and --stages)")
        .add("stages", &stages, "one ratio per stage (layers with equal output size)")
        .add("out", &out, "recipe file to write");
    if (!args.parse(argv)) return 0;
    ENSURE(!csv.empty() && !budget.empty(), "--sensitivity CSV and --budget KIND:VALUE are required");
    size_t colon = budget.find(':');
    ENSURE(colon != std::string::npos, "--budget '", budget, "' must be drop:D, params:F or flops:F");
    std::string kind = budget.substr(0, colon), value = budget.substr(colon + 1);
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    ENSURE(!value.empty() && *end == '\0' && v >= 0.0 && v < 1.0, "--budget '", budget, "': the value must be a fraction in [0, 1)");
    ENSURE(kind == "drop" || kind == "params" || kind == "flops", "--budget '", budget, "': kind must be drop, params or flops");
    prune::SensitivityTable t = prune::make_table(prune::parse_sensitivity_csv(nn::io::read_text(csv), csv), csv);
    ENSURE(!spec.empty() || (kind == "drop" && !stages), "--budget ", kind,
           (stages ? " and --stages need" : " needs"), " --model SPEC to count parameters and MACs");
    std::shared_ptr<nn::Module> model = spec.empty() ? nullptr : nn::make_model(spec, 0);
    std::map<std::string, std::string> stage_of;
    if (stages) stage_of = prune::stages_by_size(spec, *model, t.layers);
    std::map<std::string, double> ratios;
    std::string how;
    if (kind == "drop") {
        ratios = prune::ratios_for_drop(t, v, stage_of);
        how = "largest ratio with accuracy drop <= " + value;
    } else {
        bool macs = kind == "flops";
        prune::Allocation a = prune::allocate_budget(
            t, v, [&](const std::map<std::string, double>& r) { return prune::removed_fraction(spec, *model, t.granularity, r, macs); },
            stage_of);
        ratios = a.ratios;
        char buf[160];
        std::snprintf(buf, sizeof buf, "common accuracy-drop threshold %.4f removes %.1f%% of the %s", a.drop,
                      100 * a.removed, macs ? "MACs" : "parameters");
        how = buf;
    }
    std::printf("%s (%s granularity, dense validation accuracy %.2f%%)\n", how.c_str(), t.granularity.c_str(),
                100 * t.dense_accuracy);
    for (auto& l : t.layers) std::printf("  %-40s %.2f\n", l.c_str(), ratios[l]);
    if (model) {
        double p = prune::removed_fraction(spec, *model, t.granularity, ratios, false);
        double m = prune::removed_fraction(spec, *model, t.granularity, ratios, true);
        std::printf("removes %.1f%% of the parameters and %.1f%% of the MACs\n", 100 * p, 100 * m);
    }
    std::string comment = "secateurs allocate --sensitivity " + csv + " --budget " + budget + (stages ? " --stages" : "") +
                          "\n" + how;
    // Without a model the recipe is written from the table alone (element, or per-weight filter steps).
    if (model) nn::io::write_text_atomic(out, prune::allocation_recipe(spec, *model, t.granularity, ratios, comment));
    else {
        std::string text;
        for (auto& line : prune::split_list(comment)) text += "# " + line + "\n";
        int steps = 0;
        for (auto& l : t.layers) {
            if (ratios[l] <= 0) continue;
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.10g", ratios[l]);
            text += "\n[step " + l + "]\nparams = " + l + "\n" +
                    (t.granularity == "element" ? "method = l1_unstructured\n" : "method = ln_structured\nn = 1\ndim = 0\n") +
                    "amount = " + buf + "\n";
            steps++;
        }
        ENSURE(steps > 0, "every ratio is 0 at ", budget, ", nothing to prune");
        nn::io::write_text_atomic(out, text);
    }
    std::printf("wrote %s\n", out.c_str());
    return 0;
}

int cmd_thin(const Argv& argv) {
    std::string in, out, spec;
    bool bench = false, eval = false;
    int threads = 1;
    int64_t batch = 128;
    Args args("secateurs thin",
              "Physically remove pruned units: every filter / neuron / head whose weights are all zero (masked or\n"
              "zero-valued) goes, with its bias, BatchNorm entries and the next layer's inputs (residual stages\n"
              "and attention heads as tied groups). Writes a smaller dense checkpoint whose \"arch\" metadata is the\n"
              "new spec, so secateurs eval loads it without flags. Masks left inside surviving units are kept.");
    args.add("in", &in, "pruned checkpoint (masks as <name>_mask, or zeroed filters)")
        .add("out", &out, "thinned checkpoint to write")
        .add("model", &spec, "model spec (default: the checkpoint's \"arch\")")
        .add("eval", &eval, "evaluate both on the Fashion-MNIST test set")
        .add("bench", &bench, "time inference of the masked and the thinned model side by side")
        .add("batch-size", &batch, "--bench batch")
        .add("threads", &threads, "worker threads (0: all cores)");
    if (!args.parse(argv)) return 0;
    ENSURE(!in.empty() && !out.empty(), "--in FILE and --out FILE are required");
    apply_threads(threads);
    Loaded l = load_checkpoint(in, spec);
    std::vector<prune::Group> groups = prune::dependency_groups(l.spec, *l.model);
    prune::MaskSet full = prune::complete_masks(groups, *l.model, l.masks);
    // A dropped unit's BatchNorm shift or bias that was not masked changes the outputs: say so.
    int64_t shifted = 0;
    for (auto& [name, m] : full.masks()) {
        if (l.masks.find(name)) continue;
        nn::Tensor p = l.model->parameter(name);
        for (int64_t i = 0; i < m.numel(); i++) shifted += m.data()[i] == 0.0f && p.data()[i] != 0.0f;
    }
    prune::ThinResult t = prune::thin(l.spec, *l.model, l.masks);
    std::printf("%s -> %s\n", l.spec.c_str(), t.spec.c_str());
    for (size_t gi = 0; gi < groups.size(); gi++)
        if (t.units_after[gi] != t.units_before[gi])
            std::printf("  %-36s %lld -> %lld %s\n", groups[gi].name.c_str(), (long long)t.units_before[gi],
                        (long long)t.units_after[gi], groups[gi].kind.c_str());
    if (shifted)
        std::printf("note: %lld non-zero biases / BatchNorm entries of removed units were dropped: the thinned model "
                    "equals the masked one with them zeroed, not the masked one as given (%sfine-tuning with the "
                    "group masks avoids the difference)\n",
                    (long long)shifted, eval ? "--eval measures both; " : "");
    prune::CostTotals before = prune::total_costs(prune::layer_costs(l.spec, *l.model));
    prune::CostTotals after = prune::total_costs(prune::layer_costs(t.spec, *t.model, t.masks));
    std::printf("%s\n", prune::cost_line({before.params, before.macs, after.params_effective, after.macs_effective}).c_str());
    nn::st::File f;
    nn::put_module(f, *t.model);
    t.masks.put(f);
    f.metadata = l.file.metadata;
    f.metadata["arch"] = t.spec;
    f.metadata["thinned_from"] = in;
    f.write(out);
    std::printf("wrote %s\n", out.c_str());
    if (eval) {
        // The masked model as given, then with the removed units' shifts zeroed (what thinning keeps).
        data::ImageDataset test = data::load_fashion_mnist("test");
        l.masks.apply(*l.model);
        nn::EvalResult given = nn::evaluate(*l.model, test);
        std::printf("test accuracy: masked %.2f%% (loss %.4f)", 100 * given.accuracy, given.loss);
        full.apply(*l.model);
        if (shifted) {
            nn::EvalResult zeroed = nn::evaluate(*l.model, test);
            std::printf(", with the removed units' shifts zeroed %.2f%% (loss %.4f)", 100 * zeroed.accuracy, zeroed.loss);
        }
        nn::EvalResult thinned = nn::evaluate(*t.model, test);
        std::printf(", thinned %.2f%% (loss %.4f)\n", 100 * thinned.accuracy, thinned.loss);
    }
    if (bench) {
        SpeedComparison s = compare_speed(*l.model, *t.model, batch);
        std::printf("inference, batch %lld, %d thread(s), fastest of 3 interleaved rounds (process CPU time): "
                    "masked %.2f ms, thinned %.2f ms, speed-up %.2fx\n",
                    (long long)batch, threads, s.dense_ms, s.thin_ms, s.speedup());
    }
    return 0;
}

int cmd_flops(const Argv& argv) {
    std::string spec, ckpt;
    Args args("secateurs flops",
              "Parameters and multiply-accumulates (MACs) per layer for one example: dense, and effective under the\n"
              "checkpoint's masks (pruned weights, and weights reading or writing removed units, do not count).\n"
              "MACs are weight MACs (conv: weights x output positions; BERT: per token x sequence length).");
    args.add("model", &spec, "model spec (default: the checkpoint's \"arch\")")
        .add("ckpt", &ckpt, "checkpoint whose masks and zeroed units count (optional)");
    if (!args.parse(argv)) return 0;
    ENSURE(!spec.empty() || !ckpt.empty(), "--model SPEC or --ckpt FILE is required");
    std::shared_ptr<nn::Module> model;
    prune::MaskSet masks;
    if (!ckpt.empty()) {
        Loaded l = load_checkpoint(ckpt, spec);
        spec = l.spec;
        model = l.model;
        masks = l.masks;
    } else {
        model = nn::make_model(spec, 0);
    }
    auto rows = prune::layer_costs(spec, *model, masks);
    std::printf("%s\n%s%s\n", spec.c_str(), prune::format_costs(rows).c_str(), prune::cost_line(prune::total_costs(rows)).c_str());
    return 0;
}

}  // namespace experiments
