// Scope (claim C3): one global |w| ranking over all layers against a local ranking inside each layer,
// at the same total sparsity, all weight matrices included (the small output layer too). Records the
// per-layer sparsity each produces, the accuracy before and after fine-tuning, and the time to
// decide the masks.

#include "experiments/exp_common.hpp"
#include "nn/clock.hpp"
#include "nn/trainer.hpp"
#include "prune/schedule.hpp"

namespace experiments {

namespace {

class Scope : public Experiment {
public:
    std::string name() const override { return "scope"; }
    std::string title() const override { return "Scope: global against local magnitude pruning (C3)"; }
    std::vector<std::string> claims() const override { return {"C3"}; }

    void configure(Args& args, Profile profile) override {
        bool smoke = profile == Profile::Smoke, full = profile == Profile::Full;
        seeds_ = full ? 3 : smoke ? 1 : 2;
        sparsities_ = smoke ? "0.9" : full ? "0.5,0.8,0.9,0.95,0.98,0.99" : "0.8,0.9,0.95,0.98";
        epochs_ = smoke ? 1 : 2;
        args.add("model", &model_, "model spec (a baseline from the cache)")
            .add("seeds", &seeds_, "baselines (seeds) per point")
            .add("sparsities", &sparsities_, "total sparsities over all weight matrices")
            .add("finetune-epochs", &epochs_, "fine-tuning epochs after pruning")
            .add("finetune-lr", &lr_, "fine-tuning learning rate");
    }

    std::vector<Point> points(Context&) override {
        std::vector<Point> out;
        for (uint64_t seed : seed_list(seeds_))
            for (double s : parse_doubles(sparsities_, "--sparsities"))
                for (const char* scope : {"global", "local"})
                    out.push_back({std::string(scope) + "-" + fmt(s, 4) + "-seed" + std::to_string(seed),
                                   {{"scope", scope}, {"sparsity", fmt(s, 6)}, {"seed", std::to_string(seed)}},
                                   train_cost(model_, double(epochs_))});
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        uint64_t seed = uint64_t(p.num("seed"));
        auto model = load_baseline(ctx, model_, seed);
        auto weights = prunable_weights(*model, true);
        prune::PruneSpec spec;
        spec.global = p.at("scope") == "global";
        double t0 = nn::wall_seconds();
        prune::MaskSet masks = prune::decide_to_sparsity(weights, {}, spec, p.num("sparsity"));
        double decide_s = nn::wall_seconds() - t0;
        masks.apply(*model);
        nn::EvalResult before = nn::evaluate(*model, ctx.fashion().test);
        nn::TrainResult r = train_masked(ctx, *model, masks, finetune_config(ctx, epochs_, lr_, seed));
        Table t({"scope", "sparsity", "seed", "layer", "layer_params", "layer_sparsity", "acc_pruned", "acc_tuned",
                 "decide_seconds"});
        for (auto& [name, w] : weights) {
            double layer_density = density_of({{name, w}}, masks);
            t.add({p.at("scope"), p.at("sparsity"), p.at("seed"), name, std::to_string(w.numel()),
                   fmt(1.0 - layer_density), fmt(before.accuracy), fmt(r.final_test.accuracy), fmt(decide_s, 4)});
        }
        return t;
    }

    Section analyse(Context&, const Table& r) override {
        Section s;
        s.setup = "Trained " + model_ + " baselines (" + std::to_string(seeds_) + " seeds); all weight matrices, the output "
                  "layer included, pruned by |w| to the same total sparsity either with one global ranking or layer by "
                  "layer (each layer at that ratio); then " + std::to_string(epochs_) + " epoch(s) of fine-tuning.";
        std::vector<std::string> layers = r.distinct("layer");
        const std::string first_layer = layers.front();
        Table acc = r.where({{"layer", first_layer}});  // one row per point
        plot::Axes a;
        a.title = "Global vs local pruning of " + model_;
        a.xlabel = "total sparsity";
        a.ylabel = "test accuracy after fine-tuning";
        a.percent_x = a.percent_y = true;
        s.figures.push_back({"accuracy.svg", "Test accuracy after fine-tuning (band: ± std over seeds).",
                             plot::line_chart(a, mean_curves(acc, "scope", "sparsity", "acc_tuned"))});
        s.tables.push_back({"Test accuracy (%) after fine-tuning.", mean_table(acc, "scope", "sparsity", "acc_tuned", 100, 2, "sparsity")});
        s.tables.push_back({"Test accuracy (%) right after pruning.", mean_table(acc, "scope", "sparsity", "acc_pruned", 100, 2, "sparsity")});

        // Per-layer sparsity at each total, for the first seed (it is deterministic given the weights).
        std::string seed0 = r.get(0, "seed");
        std::vector<std::string> totals = r.distinct("sparsity");
        std::vector<plot::Series> bars;
        std::vector<std::string> cols = {"total sparsity", "scope"};
        cols.insert(cols.end(), layers.begin(), layers.end());
        Table per_layer(cols);
        for (const std::string& scope : {std::string("global"), std::string("local")})
            for (const std::string& tot : totals) {
                std::vector<std::string> row = {fmt(100 * std::stod(tot), 4) + " %", scope};
                for (auto& l : layers) {
                    Table c = r.where({{"scope", scope}, {"sparsity", tot}, {"seed", seed0}, {"layer", l}});
                    row.push_back(c.empty() ? "" : fmt_fixed(100 * c.num(0, "layer_sparsity"), 1) + " %");
                }
                per_layer.add(row);
            }
        const std::string& top = totals.back();
        for (const std::string& scope : {std::string("global"), std::string("local")}) {
            plot::Series b;
            b.label = scope;
            for (auto& l : layers) {
                Table c = r.where({{"scope", scope}, {"sparsity", top}, {"seed", seed0}, {"layer", l}});
                b.y.push_back(c.empty() ? NAN : c.num(0, "layer_sparsity"));
            }
            bars.push_back(b);
        }
        plot::Axes pb;
        pb.title = "Per-layer sparsity at " + fmt(100 * std::stod(top), 4) + " % total";
        pb.ylabel = "layer sparsity";
        pb.xlabel = "layer";
        pb.percent_y = true;
        pb.y_min = 0;
        pb.y_max = 1;
        s.figures.push_back({"layers.svg", "Sparsity each scope gives each layer at the highest total sparsity.",
                             plot::grouped_bars(pb, layers, bars)});
        s.tables.push_back({"Per-layer sparsity produced by each scope (seed " + seed0 + ").", per_layer});

        // Verdict: global must (a) prune the output layer less than the total at every level (it keeps
        // an important layer) and (b) end at least as accurate as local at every level.
        std::string out_layer = layers.back();
        int passed = 0, total = 0;
        std::string evidence;
        for (const std::string& tot : totals) {
            double x = std::stod(tot);
            double out_sp =
                stats_of(column_values(r.where({{"scope", "global"}, {"sparsity", tot}, {"layer", out_layer}}), "layer_sparsity"))
                    .mean;
            total++;
            passed += out_sp < x;
            Stats ag = cell_stats(acc, "scope", "global", "sparsity", x, "acc_tuned");
            Stats al = cell_stats(acc, "scope", "local", "sparsity", x, "acc_tuned");
            total++;
            passed += ag.mean >= al.mean;
            evidence += std::string(evidence.empty() ? "" : "; ") + "at " + fmt(100 * x, 3) + "%: global prunes " +
                        out_layer + " to " + fmt_fixed(100 * out_sp, 1) + "%, accuracy global " +
                        fmt_fixed(100 * ag.mean, 2) + " vs local " + fmt_fixed(100 * al.mean, 2);
        }
        s.verdicts.push_back({"C3",
                              "Global pruning keeps important layers; local pruning spreads pruning evenly but can "
                              "over-prune an important layer.",
                              verdict_from(passed, total),
                              "at every total sparsity, global pruning must leave the (small, important) output layer "
                              "sparser than nothing but less sparse than the total, and its fine-tuned accuracy must be at "
                              "least local's; holds if all checks pass, partly if some do",
                              std::to_string(passed) + " of " + std::to_string(total) + " checks pass: " + evidence});
        Stats tg = stats_of(column_values(acc.where({{"scope", "global"}}), "decide_seconds"));
        Stats tl = stats_of(column_values(acc.where({{"scope", "local"}}), "decide_seconds"));
        s.notes.push_back("The seed also says global ranking costs more compute: deciding the masks took " +
                          fmt(1000 * tg.mean, 3) + " ms (global) against " + fmt(1000 * tl.mean, 3) +
                          " ms (local) here — negligible next to training either way.");
        return s;
    }

private:
    std::string model_ = "lenet300", sparsities_;
    int seeds_ = 2;
    int64_t epochs_ = 2;
    float lr_ = 0.01f;
};

}  // namespace

std::unique_ptr<Experiment> make_scope() { return std::make_unique<Scope>(); }

}  // namespace experiments
