#include "prune/sensitivity.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "nn/check.hpp"
#include "nn/trainer.hpp"

namespace prune {

namespace {

// Natural order: digit runs compare as numbers ("features.3" < "features.10").
bool natural_less(const std::string& a, const std::string& b) {
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit((unsigned char)a[i]) && std::isdigit((unsigned char)b[j])) {
            size_t i2 = i, j2 = j;
            while (i2 < a.size() && std::isdigit((unsigned char)a[i2])) i2++;
            while (j2 < b.size() && std::isdigit((unsigned char)b[j2])) j2++;
            long long x = std::stoll(a.substr(i, i2 - i)), y = std::stoll(b.substr(j, j2 - j));
            if (x != y) return x < y;
            i = i2;
            j = j2;
        } else {
            if (a[i] != b[j]) return a[i] < b[j];
            i++;
            j++;
        }
    }
    return a.size() - i < b.size() - j;
}

bool row_less(const SensitivityRow& x, const SensitivityRow& y) {
    bool dx = x.parameter == "dense", dy = y.parameter == "dense";
    if (dx != dy) return dx;
    if (x.parameter != y.parameter) return natural_less(x.parameter, y.parameter);
    return x.ratio < y.ratio;
}

void check_granularity(const std::string& g) {
    ENSURE(g == "element" || g == "filter", "granularity '", g, "' must be element or filter");
}

const Group* group_of(const std::vector<Group>& groups, const std::string& layer) {
    for (auto& g : groups)
        if (g.producers[0].param == layer) return &g;
    return nullptr;
}

// Masks pruning `ratio` of one layer by L1 magnitude.
MaskSet layer_masks(const std::vector<Group>& groups, const nn::Module& model, const std::string& granularity,
                    const std::string& layer, double ratio, const MaskSet& start) {
    PruneSpec spec;
    spec.scorer = Scorer::Magnitude;
    spec.reduce.p = 1.0;
    spec.amount = Amount::fraction(ratio);
    auto params = model.named_parameters();
    if (granularity == "element") return decide_masks(pick(params, {layer}), start, spec);
    const Group* g = group_of(groups, layer);
    ENSURE(g, "no dependency group has '", layer, "' as its first producer");
    MaskSet m = decide_targets(group_targets({*g}), params, start, spec);
    return complete_masks({*g}, model, m);
}

std::string fmt_num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

}  // namespace

std::vector<double> default_ratios(const std::string& granularity) {
    check_granularity(granularity);
    std::vector<double> r = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    if (granularity == "element") {
        r.push_back(0.95);
        r.push_back(0.99);
    }
    return r;
}

std::vector<std::string> sensitivity_layers(const std::string& spec, nn::Module& model, const std::string& granularity) {
    check_granularity(granularity);
    std::vector<std::string> out;
    if (granularity == "filter") {
        for (auto& g : dependency_groups(spec, model)) out.push_back(g.producers[0].param);
        return out;
    }
    auto params = model.named_parameters();
    std::string last = output_layer(params);
    for (auto& n : default_prunable(params))
        if (n != last && n.find("embeddings") == std::string::npos) out.push_back(n);
    return out;
}

std::vector<SensitivityRow> sensitivity(const std::string& spec, nn::Module& model, const data::Dataset& val,
                                        const SensitivityOptions& o) {
    check_granularity(o.granularity);
    ENSURE(o.shard_count >= 1 && o.shard_index >= 0 && o.shard_index < o.shard_count, "shard ", o.shard_index + 1, "/",
           o.shard_count, " is not a valid slice");
    std::vector<double> ratios = o.ratios.empty() ? default_ratios(o.granularity) : o.ratios;
    for (double r : ratios) ENSURE(r > 0.0 && r < 1.0, "sensitivity ratio ", r, " must be in (0, 1)");
    std::vector<std::string> layers = sensitivity_layers(spec, model, o.granularity);
    if (!o.params.empty()) layers = select_names(layers, o.params, {}, "sensitivity --params");
    std::vector<Group> groups = o.granularity == "filter" ? dependency_groups(spec, model) : std::vector<Group>{};
    std::map<std::string, nn::Tensor> params;
    for (auto& [n, t] : model.named_parameters()) params[n] = t;

    std::vector<SensitivityRow> rows;
    int64_t point = 0;
    auto mine = [&]() { return point++ % o.shard_count == o.shard_index; };
    if (mine()) {
        nn::EvalResult e = nn::evaluate(model, val, o.batch_size);
        rows.push_back({"dense", o.granularity, 0.0, e.accuracy, e.loss});
        if (o.progress) o.progress("dense: accuracy " + fmt_num(e.accuracy));
    }
    for (auto& layer : layers)
        for (double r : ratios) {
            if (!mine()) continue;
            MaskSet m = layer_masks(groups, model, o.granularity, layer, r, {});
            std::vector<std::pair<nn::Tensor, nn::Tensor>> saved;  // (param, copy)
            for (auto& [n, mask] : m.masks()) saved.push_back({params.at(n), params.at(n).clone()});
            m.apply(model);
            nn::EvalResult e = nn::evaluate(model, val, o.batch_size);
            for (auto& [p, copy] : saved) p.copy_(copy);
            rows.push_back({layer, o.granularity, r, e.accuracy, e.loss});
            if (o.progress) o.progress(layer + " " + fmt_num(r) + ": accuracy " + fmt_num(e.accuracy));
        }
    std::stable_sort(rows.begin(), rows.end(), row_less);
    return rows;
}

std::string sensitivity_csv(const std::vector<SensitivityRow>& rows) {
    std::string s = "parameter,granularity,ratio,accuracy,loss\n";
    for (auto& r : rows)
        s += r.parameter + "," + r.granularity + "," + fmt_num(r.ratio) + "," + fmt_num(r.accuracy) + "," +
             fmt_num(r.loss) + "\n";
    return s;
}

std::vector<SensitivityRow> parse_sensitivity_csv(const std::string& text, const std::string& source) {
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    std::vector<SensitivityRow> rows;
    auto number = [&](const std::string& v, const char* what) {
        char* end = nullptr;
        double d = std::strtod(v.c_str(), &end);
        ENSURE(!v.empty() && *end == '\0' && std::isfinite(d), source, ":", line_no, ": ", what, " '", v,
               "' is not a number");
        return d;
    };
    while (std::getline(in, line)) {
        line_no++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line_no == 1) {
            ENSURE(line == "parameter,granularity,ratio,accuracy,loss", source,
                   ":1: expected the header 'parameter,granularity,ratio,accuracy,loss', got '", line, "'");
            continue;
        }
        if (line.empty()) continue;
        std::vector<std::string> f;
        std::stringstream ls(line);
        std::string item;
        while (std::getline(ls, item, ',')) f.push_back(item);
        ENSURE(f.size() == 5, source, ":", line_no, ": expected 5 fields, got ", f.size());
        SensitivityRow r{f[0], f[1], number(f[2], "ratio"), number(f[3], "accuracy"), number(f[4], "loss")};
        ENSURE(!r.parameter.empty(), source, ":", line_no, ": empty parameter");
        ENSURE(r.granularity == "element" || r.granularity == "filter", source, ":", line_no, ": granularity '",
               r.granularity, "' must be element or filter");
        ENSURE(r.ratio >= 0 && r.ratio < 1 && r.accuracy >= 0 && r.accuracy <= 1, source, ":", line_no,
               ": ratio must be in [0, 1) and accuracy in [0, 1]");
        rows.push_back(r);
    }
    ENSURE(line_no >= 1, source, ": empty file (expected a sensitivity CSV)");
    return rows;
}

std::vector<SensitivityRow> merge_sensitivity(const std::vector<std::vector<SensitivityRow>>& shards) {
    std::vector<SensitivityRow> all;
    for (auto& s : shards) all.insert(all.end(), s.begin(), s.end());
    std::stable_sort(all.begin(), all.end(), row_less);
    std::vector<SensitivityRow> out;
    for (auto& r : all) {
        if (!out.empty() && out.back().parameter == r.parameter && out.back().ratio == r.ratio &&
            out.back().granularity == r.granularity) {
            ENSURE(out.back().accuracy == r.accuracy && out.back().loss == r.loss, "merge: '", r.parameter, "' at ratio ",
                   r.ratio, " appears twice with different results");
            continue;
        }
        out.push_back(r);
    }
    return out;
}

// ---- allocation ---------------------------------------------------------------------------------

SensitivityTable make_table(const std::vector<SensitivityRow>& rows, const std::string& source) {
    SensitivityTable t;
    int n_dense = 0;
    for (auto& r : rows) {
        if (t.granularity.empty()) t.granularity = r.granularity;
        ENSURE(r.granularity == t.granularity, source, ": mixes granularities ", t.granularity, " and ", r.granularity);
        if (r.parameter == "dense") {
            n_dense++;
            t.dense_accuracy = r.accuracy;
            continue;
        }
        if (!t.curve.count(r.parameter)) t.layers.push_back(r.parameter);
        t.curve[r.parameter].push_back({r.ratio, r.accuracy});
    }
    ENSURE(n_dense == 1, source, ": needs exactly one 'dense' row (the unpruned accuracy), found ", n_dense,
           " (merge the shards first)");
    ENSURE(!t.layers.empty(), source, ": no layer rows");
    std::sort(t.layers.begin(), t.layers.end(), natural_less);
    for (auto& [l, c] : t.curve) std::sort(c.begin(), c.end());
    return t;
}

std::map<std::string, double> ratios_for_drop(const SensitivityTable& t, double max_drop,
                                              const std::map<std::string, std::string>& stage_of) {
    std::map<std::string, double> out;
    for (auto& l : t.layers) {
        double best = 0.0;
        for (auto& [r, acc] : t.curve.at(l))
            if (t.dense_accuracy - acc <= max_drop + 1e-12) best = std::max(best, r);  // 0.90 - 0.89 is 0.0100000...01
        out[l] = best;
    }
    if (!stage_of.empty()) {
        std::map<std::string, double> stage_min;
        for (auto& [l, r] : out) {
            auto it = stage_of.find(l);
            ENSURE(it != stage_of.end(), "stage grouping: layer '", l, "' has no stage");
            auto s = stage_min.find(it->second);
            stage_min[it->second] = s == stage_min.end() ? r : std::min(s->second, r);
        }
        for (auto& [l, r] : out) r = stage_min[stage_of.at(l)];
    }
    return out;
}

Allocation allocate_budget(const SensitivityTable& t, double target,
                           const std::function<double(const std::map<std::string, double>&)>& removed,
                           const std::map<std::string, std::string>& stage_of) {
    ENSURE(target > 0.0 && target < 1.0, "budget ", target, " must be a fraction in (0, 1)");
    double hi = 0.0;
    for (auto& [l, c] : t.curve)
        for (auto& [r, acc] : c) hi = std::max(hi, t.dense_accuracy - acc);
    auto at = [&](double drop) {
        Allocation a;
        a.drop = drop;
        a.ratios = ratios_for_drop(t, drop, stage_of);
        a.removed = removed(a.ratios);
        return a;
    };
    Allocation top = at(hi);
    ENSURE(top.removed >= target, "budget: removing ", target * 100, "% is out of reach of the grid (its largest ratios "
           "remove ", top.removed * 100, "%)");
    Allocation low = at(0.0);
    if (low.removed >= target) return low;
    double lo = 0.0;
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if (at(mid).removed >= target) hi = mid;
        else lo = mid;
    }
    return at(hi);
}

double removed_fraction(const std::string& spec, nn::Module& model, const std::string& granularity,
                        const std::map<std::string, double>& ratios, bool macs) {
    check_granularity(granularity);
    if (granularity == "filter") {
        std::vector<Group> groups = dependency_groups(spec, model);
        std::vector<double> r(groups.size(), 0.0);
        for (size_t gi = 0; gi < groups.size(); gi++) {
            auto it = ratios.find(groups[gi].producers[0].param);
            if (it != ratios.end()) r[gi] = it->second;
        }
        CostTotals c = thinned_costs(spec, model, groups, r);
        return macs ? 1.0 - double(c.macs_effective) / double(c.macs)
                    : 1.0 - double(c.params_effective) / double(c.params);
    }
    CostTotals total = total_costs(layer_costs(spec, model));
    std::map<std::string, int64_t> numel;
    for (auto& [n, t] : model.named_parameters()) numel[n] = t.numel();
    double gone = 0;
    for (auto& [w, pos] : weight_positions(spec, model)) {
        auto it = ratios.find(w);
        if (it != ratios.end()) gone += it->second * double(numel.at(w)) * (macs ? double(pos) : 1.0);
    }
    return gone / double(macs ? total.macs : total.params);
}

std::map<std::string, std::string> stages_by_size(const std::string& spec, nn::Module& model,
                                                  const std::vector<std::string>& layers) {
    auto pos = weight_positions(spec, model);
    std::map<std::string, std::string> out;
    for (auto& l : layers)
        for (auto& [w, p] : pos)
            if (w == l) out[l] = "positions=" + std::to_string(p);
    for (auto& l : layers) ENSURE(out.count(l), "stage grouping: no output size known for '", l, "'");
    return out;
}

std::string allocation_recipe(const std::string& spec, nn::Module& model, const std::string& granularity,
                              const std::map<std::string, double>& ratios, const std::string& comment) {
    check_granularity(granularity);
    std::vector<Group> groups = granularity == "filter" ? dependency_groups(spec, model) : std::vector<Group>{};
    std::string out;
    std::istringstream c(comment);
    std::string line;
    while (std::getline(c, line)) out += "# " + line + "\n";
    std::vector<std::string> names;
    for (auto& [l, r] : ratios) names.push_back(l);
    std::sort(names.begin(), names.end(), natural_less);
    int steps = 0;
    for (auto& l : names) {
        double r = ratios.at(l);
        if (r <= 0.0) continue;
        std::vector<std::string> lines;
        if (granularity == "element") {
            lines = {"params = " + l, "method = l1_unstructured"};
        } else {
            const Group* g = group_of(groups, l);
            ENSURE(g, "allocation: '", l, "' is not the first producer of a dependency group of ", spec);
            std::string list;
            for (auto& s : g->producers) list += (list.empty() ? "" : ", ") + s.param;
            lines = {"params = " + list, "method = magnitude"};
            if (g->producers[0].block == 1) lines.push_back("granularity = filters");
            else {
                lines.push_back("granularity = heads");
                lines.push_back("heads = " + std::to_string(g->units));
                lines.push_back("dim = 0");
            }
            lines.push_back("n = 1");
        }
        lines.push_back("amount = " + fmt_num(r));
        out += "\n[step " + l + "]\n";
        for (auto& x : lines) out += x + "\n";
        steps++;
    }
    ENSURE(steps > 0, "allocation: every ratio is 0, nothing to prune (raise the drop threshold or the budget)");
    return out;
}

MaskSet masks_for_ratios(const std::string& spec, nn::Module& model, const std::string& granularity,
                         const std::map<std::string, double>& ratios) {
    check_granularity(granularity);
    std::vector<Group> groups = granularity == "filter" ? dependency_groups(spec, model) : std::vector<Group>{};
    MaskSet m;
    for (auto& [l, r] : ratios)
        if (r > 0.0) m = layer_masks(groups, model, granularity, l, r, m);
    return m;
}

}  // namespace prune
