// Baselines: the dense models every pruning experiment starts from, trained once and cached
// (Context::baseline). Reports their accuracy, size and training cost; no claim of its own.
#include "experiments/exp_common.hpp"
#include "experiments/harness.hpp"
#include "experiments/plot.hpp"
#include "experiments/presets.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"

namespace experiments {

namespace {

class Baselines : public Experiment {
public:
    std::string name() const override { return "baselines"; }
    std::string title() const override { return "Dense baselines"; }
    std::vector<std::string> claims() const override { return {}; }

    void configure(Args& args, Profile profile) override {
        seeds_ = profile == Profile::Full ? 3 : profile == Profile::Quick ? 2 : 1;
        // The smoke profile checks the machinery: the tiny vgg the smoke runs of sensitivity and
        // filters use (so the cached model is shared), not the real one.
        if (profile == Profile::Smoke) models_ = "lenet300,vgg:hidden=16,widths=8-8-8-8-16-16";
        args.add("models", &models_, "comma-separated model specs (a spec's own options continue after commas)").add("seeds", &seeds_, "seeds per model");
    }

    std::vector<Point> points(Context& ctx) override {
        std::vector<Point> out;
        for (const std::string& m : nn::split_model_specs(models_))
            for (int s = 1; s <= seeds_; s++)
                out.push_back({m + "-seed" + std::to_string(s), {{"model", m}, {"seed", std::to_string(s)}},
                               train_cost(m, double(ctx.recipe(m, uint64_t(s)).epochs))});
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        nn::TrainConfig cfg = ctx.recipe(p.at("model"), uint64_t(p.num("seed")));
        Context::Baseline b = ctx.baseline(p.at("model"), cfg);
        auto model = nn::make_model(p.at("model"), 0);
        data::Augment aug = default_augment(p.at("model"), "auto");
        std::string recipe = nn::str_cat(cfg.optimizer, " lr ", cfg.lr, aug.enabled() ? ", crop + flip" : "");
        Table t({"model", "seed", "params", "epochs", "recipe", "test_acc", "val_acc", "train_seconds"});
        t.add({p.at("model"), p.at("seed"), std::to_string(model->num_parameters()), std::to_string(cfg.epochs), recipe,
               fmt(b.test_acc), fmt(b.val_acc), fmt(b.seconds)});
        return t;
    }

    Section analyse(Context&, const Table& r) override {
        Section s;
        s.setup = "Fashion-MNIST, 55,000 training / 5,000 validation (held out of the training set) / 10,000 test "
                  "images; cosine learning-rate decay, batch 128, weight decay 5e-4; optimizer (SGD has momentum 0.9), peak "
                  "learning rate, augmentation and epochs per model as listed; " +
                  std::to_string(seeds_) + " seed(s) per model. These trained models are cached and reused by the "
                  "other experiments.";
        Table summary({"model", "parameters", "epochs", "recipe", "test accuracy (mean ± std)", "seeds", "training time (s)"});
        for (const std::string& m : r.distinct("model")) {
            Table rows = r.where({{"model", m}});
            std::vector<double> acc, secs;
            for (size_t i = 0; i < rows.size(); i++) {
                acc.push_back(100 * rows.num(i, "test_acc"));
                secs.push_back(rows.num(i, "train_seconds"));
            }
            Stats a = stats_of(acc), t = stats_of(secs);
            summary.add({m, rows.get(0, "params"), rows.get(0, "epochs"), rows.get(0, "recipe"), fmt_fixed(a.mean, 2) + " ± " + fmt_fixed(a.std, 2) + " %",
                         std::to_string(a.n), fmt_fixed(t.mean, 1)});
        }
        s.tables.push_back({"Dense baselines on the Fashion-MNIST test set.", summary});
        return s;
    }

private:
    std::string models_ = "lenet300,vgg";
    int seeds_ = 2;
};

}  // namespace

std::unique_ptr<Experiment> make_baselines() { return std::make_unique<Baselines>(); }

}  // namespace experiments
