// Scoring (claim C2): are |w| (per weight) and the Ln norm (per neuron) workable importance scores?
// Each is compared with random scores at the same sparsity, pruning each layer of a trained
// lenet300 to the same ratio (so only the score differs), before and after the same fine-tuning.
#include "experiments/exp_common.hpp"
#include "nn/trainer.hpp"
#include "prune/schedule.hpp"

namespace experiments {

namespace {

class Scoring : public Experiment {
public:
    std::string name() const override { return "scoring"; }
    std::string title() const override { return "Scoring: |w| and Ln norms against random scores (C2)"; }
    std::vector<std::string> claims() const override { return {"C2"}; }

    void configure(Args& args, Profile profile) override {
        bool smoke = profile == Profile::Smoke, full = profile == Profile::Full;
        seeds_ = full ? 3 : smoke ? 1 : 2;
        unstructured_ = smoke ? "0.9" : full ? "0.5,0.7,0.8,0.9,0.95,0.98,0.99" : "0.5,0.8,0.9,0.95,0.98";
        structured_ = smoke ? "0.5" : full ? "0.1,0.25,0.5,0.75,0.9" : "0.25,0.5,0.75,0.9";
        epochs_ = smoke ? 1 : 2;
        args.add("model", &model_, "model spec (a baseline from the cache)")
            .add("seeds", &seeds_, "baselines (seeds) per point")
            .add("unstructured", &unstructured_, "sparsities for element-wise pruning")
            .add("structured", &structured_, "fractions of neurons pruned per hidden layer")
            .add("finetune-epochs", &epochs_, "fine-tuning epochs after pruning")
            .add("finetune-lr", &lr_, "fine-tuning learning rate");
    }

    std::vector<Point> points(Context&) override {
        std::vector<Point> out;
        auto add = [&](const std::string& family, const std::string& scorer, double s, uint64_t seed) {
            out.push_back({family + "-" + scorer + "-" + fmt(s, 4) + "-seed" + std::to_string(seed),
                           {{"family", family}, {"scorer", scorer}, {"sparsity", fmt(s, 6)}, {"seed", std::to_string(seed)}},
                           train_cost(model_, double(epochs_))});
        };
        for (uint64_t seed : seed_list(seeds_)) {
            for (double s : parse_doubles(unstructured_, "--unstructured"))
                for (const char* sc : {"magnitude", "random"}) add("unstructured", sc, s, seed);
            for (double s : parse_doubles(structured_, "--structured"))
                for (const char* sc : {"L1", "L2", "random"}) add("neurons", sc, s, seed);
        }
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        uint64_t seed = uint64_t(p.num("seed"));
        auto model = load_baseline(ctx, model_, seed);
        auto weights = prunable_weights(*model, false);
        prune::PruneSpec spec;
        const std::string& sc = p.at("scorer");
        spec.scorer = sc == "random" ? prune::Scorer::Random : prune::Scorer::Magnitude;
        spec.seed = seed * 7919 + 17;
        if (p.at("family") == "neurons") {
            spec.granularity = prune::Grouping::slices(0);  // rows of a Linear weight = its neurons
            spec.reduce.p = sc == "L2" ? 2.0 : 1.0;
        }
        prune::MaskSet masks = prune::decide_to_sparsity(weights, {}, spec, p.num("sparsity"));
        if (p.at("family") == "neurons") mask_dead_neuron_biases(*model, masks);
        masks.apply(*model);
        const Context::ImageData& d = ctx.fashion();
        nn::EvalResult before = nn::evaluate(*model, d.test);
        nn::TrainResult r = train_masked(ctx, *model, masks, finetune_config(ctx, epochs_, lr_, seed));
        Table t({"family", "scorer", "sparsity", "seed", "density", "acc_pruned", "acc_tuned", "loss_tuned", "seconds"});
        t.add({p.at("family"), sc, p.at("sparsity"), p.at("seed"), fmt(density_of(weights, masks)), fmt(before.accuracy),
               fmt(r.final_test.accuracy), fmt(r.final_test.loss), fmt(r.seconds, 4)});
        return t;
    }

    Section analyse(Context&, const Table& r) override {
        Section s;
        s.setup = "Trained " + model_ + " baselines (" + std::to_string(seeds_) + " seeds); every weight matrix but the "
                  "output layer pruned to the same ratio (so only the score differs): element-wise by |w| or at random, "
                  "or whole neurons (rows) by their L1 / L2 norm or at random, biases of removed neurons included. Then " +
                  std::to_string(epochs_) + " epoch(s) of fine-tuning at lr " + fmt(lr_) +
                  " with the masks enforced — the same budget for the random control. Test accuracy, mean ± std over seeds.";
        int passed = 0, total = 0;
        std::string evidence;
        for (const char* fam : {"unstructured", "neurons"}) {
            Table f = r.where({{"family", fam}});
            if (f.empty()) continue;
            plot::Axes a;
            a.title = std::string(fam == std::string("neurons") ? "Neuron" : "Element-wise") + " pruning of " + model_;
            a.xlabel = fam == std::string("neurons") ? "fraction of neurons pruned per layer" : "sparsity (fraction of weights pruned)";
            a.ylabel = "test accuracy";
            a.percent_x = a.percent_y = true;
            std::vector<plot::Series> tuned = mean_curves(f, "scorer", "sparsity", "acc_tuned");
            std::vector<plot::Series> oneshot = mean_curves(f, "scorer", "sparsity", "acc_pruned");
            for (auto& c : tuned) c.label += " + fine-tune";
            for (auto& c : oneshot) {
                c.label += ", no fine-tune";
                c.dashed = true;
                c.err.clear();
                tuned.push_back(c);
            }
            s.figures.push_back({std::string("accuracy-") + fam + ".svg",
                                 "Test accuracy after pruning (dashed) and after fine-tuning (solid; band: ± std over seeds).",
                                 plot::line_chart(a, tuned)});
            s.tables.push_back({std::string("Test accuracy (%) after fine-tuning, ") + fam + ", by score.",
                                mean_table(f, "scorer", "sparsity", "acc_tuned", 100.0, 2, "sparsity")});
            s.tables.push_back({std::string("Test accuracy (%) right after pruning (no fine-tuning), ") + fam + ".",
                                mean_table(f, "scorer", "sparsity", "acc_pruned", 100.0, 2, "sparsity")});
            // The rule: at high sparsity the score must beat random by at least one point.
            double threshold = fam == std::string("neurons") ? 0.5 : 0.8;
            for (const std::string& sc : f.distinct("scorer")) {
                if (sc == "random") continue;
                for (const std::string& sp : f.distinct("sparsity")) {
                    double x = std::stod(sp);
                    if (x < threshold - 1e-9) continue;
                    Stats a_sc = cell_stats(f, "scorer", sc, "sparsity", x, "acc_tuned");
                    Stats a_rd = cell_stats(f, "scorer", "random", "sparsity", x, "acc_tuned");
                    double gap = 100.0 * (a_sc.mean - a_rd.mean);
                    total++;
                    passed += gap >= 1.0;
                    evidence += std::string(evidence.empty() ? "" : "; ") + sc + " vs random at " + fmt(100 * x, 3) +
                                "%: " + (gap >= 0 ? "+" : "") + fmt_fixed(gap, 2) + " points";
                }
            }
        }
        s.verdicts.push_back({"C2", "|w| (per weight) and the Ln norm (per neuron) are workable importance scores.",
                              verdict_from(passed, total),
                              "after the same fine-tuning, each score's mean test accuracy must exceed random scores' by at "
                              "least 1 point at every sparsity ≥ 80 % (element-wise) and every neuron fraction ≥ 50 %; "
                              "holds if all comparisons pass, partly if some do",
                              std::to_string(passed) + " of " + std::to_string(total) + " comparisons pass: " + evidence});
        return s;
    }

private:
    // A neuron whose weight row is pruned is removed together with its bias (otherwise it would still
    // output relu(bias), a constant).
    static void mask_dead_neuron_biases(const nn::Module& model, prune::MaskSet& masks) {
        auto params = model.named_parameters();
        for (auto& [name, w] : params) {
            const nn::Tensor* m = masks.find(name);
            if (!m || w.ndim() != 2 || name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) continue;
            std::string bias = name.substr(0, name.size() - 7) + ".bias";
            for (auto& [bn, b] : params) {
                if (bn != bias) continue;
                nn::Tensor bm = nn::Tensor::ones(b.shape());
                int64_t rows = w.size(0), cols = w.size(1);
                for (int64_t i = 0; i < rows; i++) {
                    bool alive = false;
                    for (int64_t j = 0; j < cols && !alive; j++) alive = m->data()[i * cols + j] != 0.0f;
                    bm.data()[i] = alive ? 1.0f : 0.0f;
                }
                masks.set(bias, bm, b.shape());
            }
        }
    }

    std::string model_ = "lenet300", unstructured_, structured_;
    int seeds_ = 2;
    int64_t epochs_ = 2;
    float lr_ = 0.01f;
};

}  // namespace

std::unique_ptr<Experiment> make_scoring() { return std::make_unique<Scoring>(); }

}  // namespace experiments
