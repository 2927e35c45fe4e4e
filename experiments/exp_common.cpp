#include "experiments/exp_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/models.hpp"
#include "prune/schedule.hpp"
#include "prune/thin.hpp"

namespace experiments {

std::shared_ptr<nn::Module> load_baseline(Context& ctx, const std::string& spec, uint64_t seed,
                                          Context::Baseline* info) {
    Context::Baseline b = ctx.baseline(spec, seed);
    auto model = nn::make_model(spec, seed);
    nn::load_model(b.path, *model);
    if (info) *info = b;
    return model;
}

std::vector<nn::NamedTensor> prunable_weights(const nn::Module& model, bool with_output_layer) {
    auto params = model.named_parameters();
    std::vector<std::string> names = prune::default_prunable(params);
    std::string out = prune::output_layer(params);
    if (!with_output_layer) names.erase(std::remove(names.begin(), names.end(), out), names.end());
    return prune::pick(params, names);
}

nn::TrainResult train_masked(Context& ctx, nn::Module& model, prune::MaskSet& masks, const nn::TrainConfig& cfg,
                             const std::string& model_spec) {
    const Context::ImageData& d = ctx.fashion();
    data::ImageDataset train = model_spec.empty() ? d.train : ctx.train_set(model_spec);
    masks.apply(model);
    nn::Trainer trainer(model, cfg, train, &d.val, &d.test);
    prune::attach_masks(trainer, masks, model);
    return trainer.fit();
}

nn::TrainConfig finetune_config(const Context& ctx, double epochs, float lr, uint64_t seed, int64_t train_examples) {
    ENSURE(epochs > 0 && std::isfinite(epochs), "fine-tuning epochs must be > 0, got ", epochs);
    nn::TrainConfig c;
    c.epochs = int64_t(std::ceil(epochs));
    if (double(c.epochs) != epochs) {
        ENSURE(train_examples > 0, "fractional fine-tuning epochs (", epochs, ") need the training-set size");
        const int64_t per_epoch = (train_examples + c.batch_size - 1) / c.batch_size;
        c.max_steps = std::max<int64_t>(1, std::llround(epochs * double(per_epoch)));
    }
    c.lr = lr;
    c.momentum = 0.9f;
    c.weight_decay = 5e-4f;
    c.schedule = "cosine";
    c.seed = seed + 1000;  // a data order of its own, not the baseline's
    c.progress = false;
    if (ctx.profile == Profile::Smoke) c.max_steps = 10;
    return c;
}

double density_of(const std::vector<nn::NamedTensor>& params, const prune::MaskSet& masks) {
    int64_t kept = 0, total = 0;
    for (auto& [name, t] : params) {
        total += t.numel();
        const nn::Tensor* m = masks.find(name);
        if (!m) {
            kept += t.numel();
            continue;
        }
        const float* p = m->data();
        for (int64_t i = 0; i < m->numel(); i++) kept += p[i] != 0.0f;
    }
    return total ? double(kept) / double(total) : 1.0;
}

std::vector<double> parse_doubles(const std::string& text, const std::string& what) {
    std::vector<double> out;
    for (const std::string& item : prune::split_list(text)) {
        char* end = nullptr;
        double v = std::strtod(item.c_str(), &end);
        ENSURE(end && *end == 0, what, ": '", item, "' is not a number");
        out.push_back(v);
    }
    ENSURE(!out.empty(), what, ": empty list");
    return out;
}

std::vector<uint64_t> seed_list(int n) {
    ENSURE(n >= 1, "at least one seed is needed, got ", n);
    std::vector<uint64_t> s;
    for (int i = 1; i <= n; i++) s.push_back(uint64_t(i));
    return s;
}

namespace {

double macs_per_image(const std::string& spec) {
    static std::map<std::string, double> macs;
    auto it = macs.find(spec);
    if (it != macs.end()) return it->second;
    auto model = nn::make_model(spec, 0);
    return macs[spec] = double(prune::total_costs(prune::layer_costs(spec, *model)).macs);
}

}  // namespace

double macs_cost(double forward_macs) { return forward_macs / (macs_per_image("lenet300") * 55000.0); }

double train_cost(const std::string& model_spec, double epochs, double images) {
    return macs_cost(epochs * images * macs_per_image(model_spec));
}

double eval_cost(const std::string& model_spec, double images) { return train_cost(model_spec, 1, images) / 3; }

namespace {

// (series -> (x -> values)) in first-seen series order.
std::vector<std::pair<std::string, std::map<double, std::vector<double>>>> group(const Table& t, const std::string& sc,
                                                                                 const std::string& xc,
                                                                                 const std::string& yc, double scale) {
    std::vector<std::pair<std::string, std::map<double, std::vector<double>>>> out;
    for (size_t r = 0; r < t.size(); r++) {
        const std::string& s = t.get(r, sc);
        auto it = std::find_if(out.begin(), out.end(), [&](auto& e) { return e.first == s; });
        if (it == out.end()) {
            out.push_back({s, {}});
            it = out.end() - 1;
        }
        it->second[t.num(r, xc)].push_back(scale * t.num(r, yc));
    }
    return out;
}

}  // namespace

std::vector<plot::Series> mean_curves(const Table& t, const std::string& sc, const std::string& xc,
                                      const std::string& yc, double scale) {
    std::vector<plot::Series> out;
    for (auto& [name, byx] : group(t, sc, xc, yc, scale)) {
        plot::Series s;
        s.label = name;
        for (auto& [x, ys] : byx) {
            Stats st = stats_of(ys);
            s.x.push_back(x);
            s.y.push_back(st.mean);
            s.err.push_back(st.std);
        }
        out.push_back(s);
    }
    return out;
}

Table mean_table(const Table& t, const std::string& sc, const std::string& xc, const std::string& yc, double scale,
                 int decimals, const std::string& x_header) {
    auto groups = group(t, sc, xc, yc, scale);
    std::vector<std::string> cols = {x_header};
    std::vector<double> xs;
    for (auto& [name, byx] : groups) {
        cols.push_back(name);
        for (auto& [x, v] : byx)
            if (std::find(xs.begin(), xs.end(), x) == xs.end()) xs.push_back(x);
    }
    std::sort(xs.begin(), xs.end());
    Table out(cols);
    for (double x : xs) {
        std::vector<std::string> row = {fmt(x, 4)};
        for (auto& [name, byx] : groups) {
            auto it = byx.find(x);
            if (it == byx.end()) {
                row.push_back("");
                continue;
            }
            Stats st = stats_of(it->second);
            row.push_back(st.n > 1 ? fmt_fixed(st.mean, decimals) + " ± " + fmt_fixed(st.std, decimals)
                                   : fmt_fixed(st.mean, decimals));
        }
        out.add(row);
    }
    return out;
}

std::vector<double> column_values(const Table& t, const std::string& col) {
    std::vector<double> v;
    for (size_t r = 0; r < t.size(); r++) v.push_back(t.num(r, col));
    return v;
}

Stats cell_stats(const Table& t, const std::string& sc, const std::string& s, const std::string& xc, double x,
                 const std::string& yc) {
    std::vector<double> ys;
    for (size_t r = 0; r < t.size(); r++)
        if (t.get(r, sc) == s && std::fabs(t.num(r, xc) - x) < 1e-9) ys.push_back(t.num(r, yc));
    return stats_of(ys);
}

}  // namespace experiments
