// CNN sensitivity (claims C8, C9, C10) and Li et al.-style L1 filter pruning (C10, C1) on the small
// VGG. `sensitivity`: the layer x ratio grid at filter and element granularity on the validation
// split, per-layer params against MACs, per-layer filter L1 norms (sorted, and a histogram), and the
// accuracy of sensitivity-derived against uniform filter ratios at the same parameter count (before
// any fine-tuning). `filters`: filter ratios from the sensitivity curves for a parameter budget, L1
// filter pruning with the BatchNorm entries, fine-tuning with the masks enforced, thinning, and the
// measured inference speed of dense, masked (dense with zeros) and thinned models; random filters
// with the same ratios and fine-tuning as the control.
#include <algorithm>
#include <cmath>

#include "experiments/exp_common.hpp"
#include "experiments/thin_tools.hpp"
#include "nn/checkpoint.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/trainer.hpp"
#include "prune/sensitivity.hpp"
#include "prune/thin.hpp"

namespace experiments {

namespace {

const std::vector<std::string> kColumns = {"kind", "seed", "layer", "ratio", "accuracy", "loss", "params", "macs", "value"};

// The first n examples of the validation split (the grid evaluates each point on it).
data::ImageDataset val_subset(Context& ctx, int64_t n) {
    const data::ImageDataset& v = ctx.fashion().val;
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < std::min(n, v.size()); i++) idx.push_back(i);
    return v.subset(idx);
}

std::vector<prune::SensitivityRow> grid(Context& ctx, const std::string& spec, nn::Module& model, const std::string& gran,
                                        const std::string& ratios, int64_t n_eval) {
    prune::SensitivityOptions o;
    o.granularity = gran;
    o.ratios = parse_doubles(ratios, "--ratios");
    o.progress = [&](const std::string& s) { ctx.note(gran + " " + s); };
    return prune::sensitivity(spec, model, val_subset(ctx, n_eval), o);
}

void add_grid(Table& t, const std::string& seed, const std::vector<prune::SensitivityRow>& rows) {
    for (auto& r : rows)
        t.add({"grid-" + r.granularity, seed, r.parameter, fmt(r.ratio), fmt(r.accuracy), fmt(r.loss), "", "", ""});
}

std::vector<prune::SensitivityRow> grid_rows(const Table& r, const std::string& gran, const std::string& seed) {
    std::vector<prune::SensitivityRow> out;
    Table g = r.where({{"kind", "grid-" + gran}, {"seed", seed}});
    for (size_t i = 0; i < g.size(); i++)
        out.push_back({g.get(i, "layer"), gran, g.num(i, "ratio"), g.num(i, "accuracy"), g.num(i, "loss")});
    return out;
}

// Accuracy drop of a layer's curve at `ratio` (NaN when absent).
double drop_at(const prune::SensitivityTable& t, const std::string& layer, double ratio) {
    for (auto& [r, acc] : t.curve.at(layer))
        if (std::fabs(r - ratio) < 1e-9) return t.dense_accuracy - acc;
    return NAN;
}

double mean_drop(const prune::SensitivityTable& t, const std::string& layer) {
    double s = 0;
    for (auto& [r, acc] : t.curve.at(layer)) s += t.dense_accuracy - acc;
    return s / double(t.curve.at(layer).size());
}

// The uniform ratio (same for every analysed layer) removing at least `target` of the parameters.
std::map<std::string, double> uniform_for(const std::string& spec, nn::Module& model, const std::vector<std::string>& layers,
                                          double target) {
    auto at = [&](double r) {
        std::map<std::string, double> m;
        for (auto& l : layers) m[l] = r;
        return m;
    };
    double lo = 0, hi = 0.99;
    for (int i = 0; i < 40; i++) {
        double mid = 0.5 * (lo + hi);
        if (prune::removed_fraction(spec, model, "filter", at(mid), false) >= target) hi = mid;
        else lo = mid;
    }
    return at(hi);
}

// The dense model: a trained checkpoint when `ckpt` is given (its "arch" must be `spec`), else the
// cached baseline of `seed`.
std::shared_ptr<nn::Module> dense_model(Context& ctx, const std::string& spec, const std::string& ckpt, uint64_t seed) {
    if (ckpt.empty()) return load_baseline(ctx, spec, seed);
    auto model = nn::make_model(spec, seed);
    nn::st::File f = nn::load_model(ckpt, *model);
    auto arch = f.metadata.find("arch");
    ENSURE(arch == f.metadata.end() || nn::ModelSpec::parse(arch->second).str() == nn::ModelSpec::parse(spec).str(), ckpt,
           ": holds '", arch->second, "', not --model '", spec, "'");
    return model;
}

// The setup's opening: which trained models were analysed.
std::string dense_source(const std::string& spec, const std::string& ckpt, int64_t seeds) {
    if (!ckpt.empty()) return "The trained " + spec + " checkpoint " + ckpt + " (one model).";
    return "Trained " + spec + " baselines (" + std::to_string(seeds) + " seed(s)).";
}

std::string conv_label(const std::string& layer) { return layer.substr(0, layer.rfind('.')); }

// ---- sensitivity (C8, C9, C10) ------------------------------------------------------------------

class Sensitivity : public Experiment {
public:
    std::string name() const override { return "sensitivity"; }
    std::string title() const override { return "CNN sensitivity: which layers can be pruned (C8, C9, C10)"; }
    std::vector<std::string> claims() const override { return {"C8", "C9", "C10"}; }

    void configure(Args& args, Profile profile) override {
        bool smoke = profile == Profile::Smoke, full = profile == Profile::Full;
        if (smoke) model_ = "vgg:hidden=16,widths=8-8-8-8-16-16";
        seeds_ = full ? 3 : smoke ? 1 : 2;
        n_eval_ = smoke ? 200 : 1000;
        filter_ratios_ = smoke ? "0.5,0.9" : full ? "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9" : "0.25,0.5,0.75,0.9";
        element_ratios_ = smoke ? "0.5,0.9" : full ? "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,0.99" : "0.5,0.8,0.95,0.99";
        args.add("model", &model_, "model spec (a baseline from the cache)")
            .add("seeds", &seeds_, "baselines (seeds)")
            .add("eval-examples", &n_eval_, "validation examples per grid point")
            .add("filter-ratios", &filter_ratios_, "filter-granularity ratios")
            .add("element-ratios", &element_ratios_, "element-granularity ratios")
            .add("params-removed", &params_removed_, "derived vs uniform: fraction of parameters removed")
            .add("ckpt", &ckpt_, "a trained checkpoint of --model to analyse instead of the cached baselines (one seed)");
    }

    std::vector<Point> points(Context&) override {
        std::vector<Point> out;
        const double layers = double(prunable_weights(*nn::make_model(model_, 0), true).size());
        for (uint64_t seed : seed_list(ckpt_.empty() ? seeds_ : 1))
            for (const char* g : {"filter", "element"}) {
                const double ratios = double(parse_doubles(g[0] == 'f' ? filter_ratios_ : element_ratios_, "ratios").size());
                out.push_back({std::string(g) + "-seed" + std::to_string(seed), {{"granularity", g}, {"seed", std::to_string(seed)}},
                               eval_cost(model_, layers * ratios * double(n_eval_))});
            }
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        uint64_t seed = uint64_t(p.num("seed"));
        const std::string& gran = p.at("granularity"), s = p.at("seed");
        auto model = dense_model(ctx, model_, ckpt_, seed);
        Table t(kColumns);
        auto rows = grid(ctx, model_, *model, gran, gran == "filter" ? filter_ratios_ : element_ratios_, n_eval_);
        add_grid(t, s, rows);
        if (gran == "element") return t;
        // Per-layer params and MACs (C9).
        for (auto& c : prune::layer_costs(model_, *model))
            t.add({"cost", s, c.layer, "", "", "", std::to_string(c.params), std::to_string(c.macs), ""});
        // Filter L1 norms over the layer's largest (C10).
        for (auto& [name, w] : model->named_parameters()) {
            if (w.ndim() != 4) continue;
            int64_t oc = w.size(0), per = w.numel() / oc;
            std::vector<double> norms(size_t(oc), 0.0);
            for (int64_t f = 0; f < oc; f++)
                for (int64_t i = 0; i < per; i++) norms[size_t(f)] += std::fabs(w.data()[f * per + i]);
            double mx = *std::max_element(norms.begin(), norms.end());
            for (double n : norms) t.add({"norm", s, name, "", "", "", "", "", fmt(mx > 0 ? n / mx : 0.0)});
        }
        // Derived against uniform ratios at the same parameter count, before fine-tuning (C8).
        prune::SensitivityTable table = prune::make_table(rows, "grid");
        prune::Allocation a = prune::allocate_budget(table, params_removed_, [&](const std::map<std::string, double>& r) {
            return prune::removed_fraction(model_, *model, "filter", r, false);
        });
        auto uniform = uniform_for(model_, *model, table.layers, a.removed);
        const data::ImageDataset& test = ctx.fashion().test;
        for (auto& [kind, ratios] : {std::pair{std::string("derived"), a.ratios}, std::pair{std::string("uniform"), uniform}}) {
            auto m = dense_model(ctx, model_, ckpt_, seed);
            prune::MaskSet masks = prune::masks_for_ratios(model_, *m, "filter", ratios);
            masks.apply(*m);
            nn::EvalResult e = nn::evaluate(*m, test);
            double removed = prune::removed_fraction(model_, *m, "filter", ratios, false);
            double removed_macs = prune::removed_fraction(model_, *m, "filter", ratios, true);
            t.add({"compare", s, kind, fmt(removed), fmt(e.accuracy), fmt(e.loss), "", fmt(removed_macs), ""});
        }
        return t;
    }

    Section analyse(Context&, const Table& r) override {
        Section sec;
        sec.setup = dense_source(model_, ckpt_, seeds_) + " Each layer alone pruned by "
                    "L1 magnitude at each ratio — filters (with their BatchNorm entries; the hidden FC layer's neurons) or "
                    "elements — and evaluated on " + std::to_string(n_eval_) + " validation images held out of training; no "
                    "fine-tuning. Derived ratios: the common accuracy-drop threshold (bisection) removing " +
                    fmt(100 * params_removed_, 3) + " % of the parameters; uniform: one ratio for every layer removing as many.";
        const std::string seed0 = r.get(0, "seed");
        prune::SensitivityTable filt = prune::make_table(grid_rows(r, "filter", seed0), "filter grid");
        prune::SensitivityTable elem = prune::make_table(grid_rows(r, "element", seed0), "element grid");
        sec.figures.push_back({"filter.svg", "Filter (channel / neuron) sensitivity: validation accuracy with one layer pruned.",
                               sensitivity_svg(grid_rows(r, "filter", seed0), "Filter pruning, one layer at a time")});
        sec.figures.push_back({"element.svg", "Element (|w|) sensitivity: validation accuracy with one layer pruned.",
                               sensitivity_svg(grid_rows(r, "element", seed0), "Unstructured pruning, one layer at a time")});
        // Heatmap of accuracy drops (filter).
        std::vector<std::string> cols;
        for (auto& [ratio, acc] : filt.curve.at(filt.layers[0])) cols.push_back(fmt(100 * ratio, 3) + " %");
        std::vector<std::vector<double>> cells;
        std::vector<std::string> header = {"layer"};
        header.insert(header.end(), cols.begin(), cols.end());
        Table grid_t(header);
        for (auto& l : filt.layers) {
            std::vector<double> row;
            std::vector<std::string> text = {l};
            for (auto& [ratio, acc] : filt.curve.at(l)) {
                row.push_back(filt.dense_accuracy - acc);
                text.push_back(fmt_fixed(100 * (filt.dense_accuracy - acc), 2));
            }
            cells.push_back(row);
            grid_t.add(text);
        }
        plot::Axes hm;
        hm.title = "Accuracy drop (points / 100) with one layer's filters pruned";
        hm.xlabel = "ratio";
        hm.ylabel = "layer";
        sec.figures.push_back({"filter-heatmap.svg", "Accuracy drop per layer and ratio (filter granularity).",
                               plot::heatmap(hm, filt.layers, cols, cells, true)});
        sec.tables.push_back({"Validation accuracy drop (points) per layer and filter ratio (dense " +
                                  fmt_fixed(100 * filt.dense_accuracy, 2) + " %).", grid_t});
        // C9: params vs MACs per layer.
        Table cost = r.where({{"kind", "cost"}, {"seed", seed0}});
        double p_total = 0, m_total = 0, p_fc = 0, m_conv = 0;
        for (size_t i = 0; i < cost.size(); i++) {
            p_total += cost.num(i, "params");
            m_total += cost.num(i, "macs");
            bool conv = cost.get(i, "layer").rfind("features", 0) == 0;
            if (!conv) p_fc += cost.num(i, "params");
            if (conv) m_conv += cost.num(i, "macs");
        }
        Table ct({"layer", "params", "params %", "MACs", "MACs %"});
        plot::Series ps{"params", {}, {}, {}, false}, ms{"MACs", {}, {}, {}, false};
        std::vector<std::string> cost_layers;
        for (size_t i = 0; i < cost.size(); i++) {
            ct.add({cost.get(i, "layer"), cost.get(i, "params"), fmt_fixed(100 * cost.num(i, "params") / p_total, 1),
                    cost.get(i, "macs"), fmt_fixed(100 * cost.num(i, "macs") / m_total, 1)});
            cost_layers.push_back(conv_label(cost.get(i, "layer")));
            ps.y.push_back(cost.num(i, "params") / p_total);
            ms.y.push_back(cost.num(i, "macs") / m_total);
        }
        plot::Axes ca;
        ca.title = "Share of parameters and of MACs per layer";
        ca.ylabel = "share";
        ca.xlabel = "layer";
        ca.percent_y = true;
        sec.figures.push_back({"cost.svg", "Where the parameters and the compute are (one example).",
                               plot::grouped_bars(ca, cost_layers, {ps, ms})});
        sec.tables.push_back({"Parameters and MACs per layer (biases and BatchNorm with their layer).", ct});
        // C10: filter norms.
        Table norms = r.where({{"kind", "norm"}, {"seed", seed0}});
        std::vector<plot::Series> sorted, hist;
        Table nt({"conv layer", "filters", "near-zero filters (L1 < 10 % of the layer's largest)"});
        double max_near = 0;
        for (auto& l : norms.distinct("layer")) {
            std::vector<double> v = column_values(norms.where({{"layer", l}}), "value");
            std::sort(v.begin(), v.end());
            plot::Series s{conv_label(l), {}, v, {}, false};
            int near = 0;
            for (size_t i = 0; i < v.size(); i++) {
                s.x.push_back(v.size() > 1 ? double(i) / double(v.size() - 1) : 0.0);
                near += v[i] < 0.1;
            }
            sorted.push_back(s);
            hist.push_back({conv_label(l), v, {}, {}, false});
            max_near = std::max(max_near, double(near) / double(v.size()));
            nt.add({l, std::to_string(v.size()), fmt_fixed(100.0 * near / double(v.size()), 1) + " %"});
        }
        plot::Axes sa;
        sa.title = "Sorted filter L1 norms (over the layer's largest)";
        sa.xlabel = "filter rank (fraction)";
        sa.ylabel = "L1 norm / max";
        sa.percent_x = true;
        sec.figures.push_back({"norms.svg", "Sorted filter norms per conv layer.", plot::line_chart(sa, sorted)});
        plot::Axes ha;
        ha.title = "Histogram of filter L1 norms (over the layer's largest)";
        ha.xlabel = "L1 norm / max";
        ha.ylabel = "filters";
        sec.figures.push_back({"norm-hist.svg", "Filter-norm histogram per conv layer.", plot::histogram(ha, hist, 10)});
        sec.tables.push_back({"Near-zero filters per conv layer.", nt});
        // Derived vs uniform.
        Table cmp = r.where({{"kind", "compare"}});
        Table cmp_t({"ratios", "params removed", "MACs removed", "test accuracy (no fine-tuning)"});
        for (const std::string k : {"derived", "uniform"}) {
            Table c = cmp.where({{"layer", k}});
            cmp_t.add({k, fmt_fixed(100 * stats_of(column_values(c, "ratio")).mean, 1) + " %",
                       fmt_fixed(100 * stats_of(column_values(c, "macs")).mean, 1) + " %",
                       fmt_fixed(100 * stats_of(column_values(c, "accuracy")).mean, 2) + " %"});
        }
        sec.tables.push_back({"Sensitivity-derived against uniform filter ratios at the same parameter count.", cmp_t});

        // Verdicts.
        std::vector<std::string> convs;
        for (auto& l : filt.layers)
            if (l.rfind("features", 0) == 0) convs.push_back(l);
        const std::string first = convs.front(), last = convs.back();
        double d_first = mean_drop(filt, first), d_last = mean_drop(filt, last);
        double acc_derived = stats_of(column_values(cmp.where({{"layer", "derived"}}), "accuracy")).mean;
        double acc_uniform = stats_of(column_values(cmp.where({{"layer", "uniform"}}), "accuracy")).mean;
        int c8 = (d_first > d_last) + (acc_derived >= acc_uniform);
        sec.verdicts.push_back({"C8", "Front layers are most sensitive, back layers least; per-layer ratios beat uniform ones.",
                                verdict_from(c8, 2),
                                "(1) the first conv's mean filter-pruning accuracy drop over the grid exceeds the last conv's; "
                                "(2) sensitivity-derived ratios are at least as accurate as uniform ones at the same "
                                "parameter count (before fine-tuning); holds if both, partly if one",
                                "mean drop " + conv_label(first) + " " + fmt_fixed(100 * d_first, 2) + " points vs " +
                                    conv_label(last) + " " + fmt_fixed(100 * d_last, 2) + "; derived " +
                                    fmt_fixed(100 * acc_derived, 2) + " % vs uniform " + fmt_fixed(100 * acc_uniform, 2) + " %"});
        double p_fc_share = p_fc / p_total, m_conv_share = m_conv / m_total;
        sec.verdicts.push_back({"C9", "In CNNs most parameters are in the FC layers, most compute in the conv layers.",
                                verdict_from((p_fc_share > 0.5) + (m_conv_share > 0.5), 2),
                                "FC layers hold > 50 % of the parameters, and conv layers > 50 % of the MACs",
                                "FC params " + fmt_fixed(100 * p_fc_share, 1) + " %, conv MACs " + fmt_fixed(100 * m_conv_share, 1) + " %"});
        double last_90 = drop_at(filt, last, 0.9);
        double elem_first = mean_drop(elem, elem.layers.front());
        sec.verdicts.push_back({"C10", "About half of a conv layer's filters are near zero; back layers tolerate ~90 % filter removal.",
                                verdict_from((max_near >= 0.4) + (!std::isnan(last_90) && last_90 <= 0.02), 2),
                                "(1) some conv layer has >= 40 % of its filters with an L1 norm below 10 % of its largest; "
                                "(2) removing 90 % of the last conv's filters (no fine-tuning) costs <= 2 points",
                                "largest near-zero share " + fmt_fixed(100 * max_near, 1) + " %; last conv at 90 %: drop " +
                                    fmt_fixed(100 * last_90, 2) + " points"});
        sec.notes.push_back("Element pruning of the first layer costs " + fmt_fixed(100 * elem_first, 2) +
                            " points on average over the grid (one layer pruned at a time; the figure shows all).");
        if (seeds_ > 1) sec.notes.push_back("Figures and grids show seed " + seed0 + "; the comparison averages all seeds.");
        return sec;
    }

private:
    std::string model_ = "vgg", filter_ratios_, element_ratios_, ckpt_;
    int seeds_ = 1;
    int64_t n_eval_ = 1000;
    double params_removed_ = 0.5;
};

// ---- filters (C10, C1) ---------------------------------------------------------------------------

class Filters : public Experiment {
public:
    std::string name() const override { return "filters"; }
    std::string title() const override { return "L1 filter pruning with sensitivity-derived ratios, thinned (C10, C1)"; }
    std::vector<std::string> claims() const override { return {"C10", "C1"}; }

    void configure(Args& args, Profile profile) override {
        bool smoke = profile == Profile::Smoke, full = profile == Profile::Full;
        if (smoke) model_ = "vgg:hidden=16,widths=8-8-8-8-16-16";
        seeds_ = full ? 3 : smoke ? 1 : 2;
        epochs_ = 1;
        n_eval_ = smoke ? 200 : 1000;
        ratios_ = smoke ? "0.5,0.9" : "0.25,0.5,0.75,0.9";
        args.add("model", &model_, "model spec (a baseline from the cache)")
            .add("seeds", &seeds_, "baselines (seeds)")
            .add("removed", &removed_, "budget: fraction of the MACs (or parameters) removed")
            .add("budget", &budget_, "flops or params: what --removed counts")
            .add("finetune-epochs", &epochs_, "fine-tuning epochs")
            .add("finetune-lr", &lr_, "fine-tuning learning rate")
            .add("eval-examples", &n_eval_, "validation examples per sensitivity point")
            .add("ratios", &ratios_, "sensitivity grid ratios")
            .add("ckpt", &ckpt_, "a trained checkpoint of --model to prune instead of the cached baselines (one seed)");
    }

    std::vector<Point> points(Context&) override {
        std::vector<Point> out;
        const double layers = double(prunable_weights(*nn::make_model(model_, 0), true).size());
        const double ratios = double(parse_doubles(ratios_, "--ratios").size());
        for (uint64_t seed : seed_list(ckpt_.empty() ? seeds_ : 1))
            for (const char* scorer : {"l1", "random"})
                out.push_back({std::string(scorer) + "-seed" + std::to_string(seed),
                               {{"scorer", scorer}, {"seed", std::to_string(seed)}},
                               train_cost(model_, double(epochs_)) + eval_cost(model_, layers * ratios * double(n_eval_))});
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        uint64_t seed = uint64_t(p.num("seed"));
        const std::string& s = p.at("seed");
        auto model = dense_model(ctx, model_, ckpt_, seed);
        nn::EvalResult dense_acc = nn::evaluate(*model, ctx.fashion().test);
        auto rows = grid(ctx, model_, *model, "filter", ratios_, n_eval_);
        prune::SensitivityTable table = prune::make_table(rows, "grid");
        ENSURE(budget_ == "params" || budget_ == "flops", "filters: --budget '", budget_, "' must be params or flops");
        prune::Allocation a = prune::allocate_budget(table, removed_, [&](const std::map<std::string, double>& r) {
            return prune::removed_fraction(model_, *model, "filter", r, budget_ == "flops");
        });
        prune::MaskSet masks;
        if (p.at("scorer") == "l1") {
            masks = prune::masks_for_ratios(model_, *model, "filter", a.ratios);
        } else {  // the same number of units per group, chosen at random
            auto groups = prune::dependency_groups(model_, *model);
            std::vector<prune::Group> chosen;
            for (auto& g : groups) {
                auto it = a.ratios.find(g.producers[0].param);
                if (it == a.ratios.end() || it->second <= 0) continue;
                prune::PruneSpec spec;
                spec.scorer = prune::Scorer::Random;
                spec.seed = seed;
                spec.amount = prune::Amount::fraction(it->second);
                masks = prune::decide_targets(prune::group_targets({g}), model->named_parameters(), masks, spec);
            }
            masks = prune::complete_masks(groups, *model, masks);
        }
        masks.apply(*model);
        nn::EvalResult pruned = nn::evaluate(*model, ctx.fashion().test);
        nn::TrainResult ft = train_masked(ctx, *model, masks, finetune_config(ctx, epochs_, lr_, seed));
        prune::ThinResult th = prune::thin(model_, *model, masks);
        nn::EvalResult thin_acc = nn::evaluate(*th.model, ctx.fashion().test);
        auto dense = dense_model(ctx, model_, ckpt_, seed);
        prune::CostTotals c0 = prune::total_costs(prune::layer_costs(model_, *dense));
        prune::CostTotals c1 = prune::total_costs(prune::layer_costs(th.spec, *th.model));
        SpeedComparison masked_speed = compare_speed(*dense, *model, 128);
        SpeedComparison thin_speed = compare_speed(*dense, *th.model, 128);
        Table t(kColumns);
        auto add = [&](const std::string& kind, const std::string& what, double v) {
            t.add({p.at("scorer"), s, kind + ":" + what, "", "", "", "", "", fmt(v, 8)});
        };
        add("acc", "dense", dense_acc.accuracy);
        add("acc", "pruned", pruned.accuracy);
        add("acc", "finetuned", ft.final_test.accuracy);
        add("acc", "thinned", thin_acc.accuracy);
        add("removed", "params", 1.0 - double(c1.params) / double(c0.params));
        add("removed", "macs", 1.0 - double(c1.macs) / double(c0.macs));
        add("ms", "dense", thin_speed.dense_ms);
        add("ms", "masked", masked_speed.thin_ms);
        add("ms", "thinned", thin_speed.thin_ms);
        add("ms", "dense_again", masked_speed.dense_ms);
        for (auto& [l, r] : a.ratios) t.add({p.at("scorer"), s, "ratio:" + l, fmt(r), "", "", "", "", ""});
        t.add({p.at("scorer"), s, "spec:" + th.spec, "", "", "", "", "", ""});
        return t;
    }

    Section analyse(Context&, const Table& r) override {
        Section sec;
        sec.setup = dense_source(model_, ckpt_, seeds_) + " Filter sensitivity on " +
                    std::to_string(n_eval_) + " validation images; per-layer ratios from the common accuracy-drop threshold "
                    "removing " + fmt(100 * removed_, 3) + " % of the " + (budget_ == "flops" ? "MACs" : "parameters") +
                    "; filters chosen by L1 norm (Li et al. "
                    "2017) or at random (control), their BatchNorm entries masked with them; " + std::to_string(epochs_) +
                    " epoch(s) of fine-tuning with the masks enforced; then thinned. Inference at batch 128, process CPU "
                    "time, fastest of 3 interleaved rounds.";
        auto val = [&](const std::string& scorer, const std::string& key) {
            return stats_of(column_values(r.where({{"kind", scorer}, {"layer", key}}), "value")).mean;
        };
        Table t({"filters", "dense acc", "pruned acc", "fine-tuned acc", "thinned acc", "params removed", "MACs removed",
                 "dense ms", "masked ms", "thinned ms", "speed-up"});
        for (const std::string sc : {"l1", "random"}) {
            if (r.where({{"kind", sc}}).empty()) continue;
            t.add({sc, fmt_fixed(100 * val(sc, "acc:dense"), 2), fmt_fixed(100 * val(sc, "acc:pruned"), 2),
                   fmt_fixed(100 * val(sc, "acc:finetuned"), 2), fmt_fixed(100 * val(sc, "acc:thinned"), 2),
                   fmt_fixed(100 * val(sc, "removed:params"), 1) + " %", fmt_fixed(100 * val(sc, "removed:macs"), 1) + " %",
                   fmt_fixed(val(sc, "ms:dense"), 2), fmt_fixed(val(sc, "ms:masked"), 2), fmt_fixed(val(sc, "ms:thinned"), 2),
                   fmt_fixed(val(sc, "ms:dense") / val(sc, "ms:thinned"), 2) + "x"});
        }
        sec.tables.push_back({"L1 against random filter pruning at the same per-layer ratios (test accuracy %).", t});
        Table rt({"layer", "ratio"});
        Table ratios = r.where({{"kind", "l1"}, {"seed", r.get(0, "seed")}});
        std::string spec;
        std::vector<std::string> labels;
        plot::Series rs{"filter ratio", {}, {}, {}, false};
        for (size_t i = 0; i < ratios.size(); i++) {
            const std::string& k = ratios.get(i, "layer");
            if (k.rfind("ratio:", 0) == 0) {
                rt.add({k.substr(6), fmt_fixed(ratios.num(i, "ratio"), 2)});
                labels.push_back(conv_label(k.substr(6)));
                rs.y.push_back(ratios.num(i, "ratio"));
            }
            if (k.rfind("spec:", 0) == 0) spec = k.substr(5);
        }
        sec.tables.push_back({"Derived per-layer ratios (thinned spec: `" + spec + "`).", rt});
        plot::Axes ra;
        ra.title = "Sensitivity-derived filter ratios";
        ra.ylabel = "fraction of filters removed";
        ra.xlabel = "layer";
        ra.percent_y = true;
        ra.y_min = 0;
        ra.y_max = 1;
        sec.figures.push_back({"ratios.svg", "Per-layer filter ratios from the sensitivity curves.", plot::grouped_bars(ra, labels, {rs})});
        double loss_pts = 100 * (val("l1", "acc:dense") - val("l1", "acc:thinned"));
        double pr = val("l1", "removed:params"), mr = val("l1", "removed:macs");
        sec.verdicts.push_back({"C10", "Filters can be pruned per layer by their L1 norm with little loss after fine-tuning "
                                       "(Li et al.: 64 % of VGG-16's parameters, 34 % of its FLOPs, no loss).",
                                verdict_from((pr >= 0.5) + (mr >= 0.4) + (loss_pts <= 0.5), 3),
                                ">= 50 % of the parameters and >= 40 % of the MACs removed, and the thinned, fine-tuned "
                                "model within 0.5 points of the dense test accuracy; holds if all three, partly if some",
                                "params removed " + fmt_fixed(100 * pr, 1) + " %, MACs removed " + fmt_fixed(100 * mr, 1) +
                                    " %, accuracy loss " + fmt_fixed(loss_pts, 2) + " points"});
        double sp = val("l1", "ms:dense") / val("l1", "ms:thinned");
        double masked_ratio = val("l1", "ms:masked") / val("l1", "ms:dense_again");
        sec.verdicts.push_back({"C1", "Unstructured zeros give no speed-up on dense kernels; structured pruning gives an immediate one.",
                                verdict_from((sp >= 1.5) + (masked_ratio > 0.8 && masked_ratio < 1.25), 2),
                                "the thinned model runs >= 1.5x faster than the dense one, and the masked model (same "
                                "zeros, dense shapes) within ±20 % of the dense time",
                                "thinned speed-up " + fmt_fixed(sp, 2) + "x; masked / dense time " + fmt_fixed(masked_ratio, 2)});
        sec.notes.push_back("Random filters with the same ratios and fine-tuning: " +
                            fmt_fixed(100 * val("random", "acc:thinned"), 2) + " % against L1's " +
                            fmt_fixed(100 * val("l1", "acc:thinned"), 2) + " %.");
        return sec;
    }

private:
    // A MAC budget, as Li et al. report FLOPs: removing 45 % of the MACs of vgg takes most of its
    // parameters with it (the wide back layers), while a parameter budget mostly thins the classifier
    // and leaves the convolutions' compute in place.
    std::string model_ = "vgg", ratios_, ckpt_, budget_ = "flops";
    int seeds_ = 1;
    int64_t epochs_ = 1, n_eval_ = 1000;
    float lr_ = 0.01f;
    double removed_ = 0.45;
};

}  // namespace

std::unique_ptr<Experiment> make_sensitivity() { return std::make_unique<Sensitivity>(); }
std::unique_ptr<Experiment> make_filters() { return std::make_unique<Filters>(); }

}  // namespace experiments
