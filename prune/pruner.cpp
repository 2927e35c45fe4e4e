#include "prune/pruner.hpp"

#include "nn/check.hpp"
#include "nn/rng.hpp"

namespace prune {

namespace {

const nn::Tensor& lookup(const std::vector<nn::NamedTensor>& params, const std::string& name) {
    for (auto& [n, t] : params)
        if (n == name) return t;
    RAISE("pruning: no parameter named '", name, "'");
}

struct Prepared {
    std::vector<Member> members;
    UnitScores units;
    const Amount* own_amount = nullptr;  // from the per-layer table
};

}  // namespace

MaskSet decide_targets(const std::vector<Target>& targets, const std::vector<nn::NamedTensor>& params,
                       const MaskSet& current, const PruneSpec& spec,
                       const std::map<std::string, nn::Tensor>& saliency) {
    std::vector<Prepared> prep(targets.size());
    for (size_t t = 0; t < targets.size(); t++) {
        const Target& target = targets[t];
        ENSURE(!target.members.empty(), "pruning target '", target.name, "' has no tensors");
        for (auto& m : target.members) {
            const nn::Tensor& w = lookup(params, m.param);
            const nn::Tensor* mask = current.find(m.param);
            nn::Tensor scores = w;
            if (spec.scorer == Scorer::Saliency) {
                auto it = saliency.find(m.param);
                ENSURE(it != saliency.end(), "pruning: no saliency scores for '", m.param, "'");
                ENSURE(it->second.shape() == w.shape(), "pruning: saliency of '", m.param, "' has shape ",
                       it->second.shape(), ", the parameter has ", w.shape());
                scores = it->second;
            }
            prep[t].members.push_back({scores, mask ? *mask : nn::Tensor(), m.grouping.layout(w.shape(), m.param)});
        }
        if (spec.scorer == Scorer::Random) {
            nn::Rng rng = nn::Rng(spec.seed).fork(nn::hash64(target.name.data(), target.name.size()));
            prep[t].units = random_scores(prep[t].members, rng);
        } else {
            prep[t].units = group_scores(prep[t].members, spec.reduce, target.name);
        }
        for (auto& [glob, amount] : spec.layer_amounts)
            if (glob_match(glob, target.name)) {
                prep[t].own_amount = &amount;
                break;
            }
    }
    // Survival flags per target: own amounts (and all, when local) first, then one global ranking.
    std::vector<std::vector<uint8_t>> alive(targets.size());
    std::vector<UnitScores> pooled;
    std::vector<std::string> pooled_names;
    std::vector<size_t> pooled_index;
    for (size_t t = 0; t < targets.size(); t++) {
        if (prep[t].own_amount || !spec.global) {
            alive[t] = decide_local(prep[t].units, prep[t].own_amount ? *prep[t].own_amount : spec.amount, targets[t].name);
        } else {
            pooled.push_back(prep[t].units);
            pooled_names.push_back(targets[t].name);
            pooled_index.push_back(t);
        }
    }
    if (!pooled.empty()) {
        auto decided = decide_global(pooled, spec.amount, spec.global_options, pooled_names);
        for (size_t k = 0; k < pooled_index.size(); k++) alive[pooled_index[k]] = std::move(decided[k]);
    }
    MaskSet out = current.clone();
    for (size_t t = 0; t < targets.size(); t++)
        for (size_t k = 0; k < targets[t].members.size(); k++) {
            const std::string& name = targets[t].members[k].param;
            const nn::Tensor& w = lookup(params, name);
            const Member& m = prep[t].members[k];
            out.set(name, expand_mask(m.mask, w.shape(), m.layout, alive[t]), w.shape());
        }
    return out;
}

MaskSet decide_masks(const std::vector<nn::NamedTensor>& params, const MaskSet& current, const PruneSpec& spec,
                     const std::map<std::string, nn::Tensor>& saliency) {
    std::vector<Target> targets;
    for (auto& [name, t] : params) targets.push_back({name, {{name, spec.granularity}}});
    return decide_targets(targets, params, current, spec, saliency);
}

std::vector<Target> attention_head_targets(const std::vector<AttentionBlock>& blocks) {
    std::vector<Target> out;
    for (auto& b : blocks) {
        ENSURE(b.n_heads > 0, "attention block '", b.name, "': n_heads must be positive");
        ENSURE(!b.rows.empty() || !b.cols.empty(), "attention block '", b.name, "' names no tensors");
        Target t{b.name, {}};
        for (auto& r : b.rows) t.members.push_back({r, Grouping::heads(b.n_heads, 0)});
        for (auto& c : b.cols) t.members.push_back({c, Grouping::heads(b.n_heads, 1)});
        out.push_back(std::move(t));
    }
    return out;
}

std::vector<AttentionBlock> bert_attention_blocks(const std::vector<int64_t>& heads, const std::string& prefix) {
    std::vector<AttentionBlock> out;
    for (size_t i = 0; i < heads.size(); i++) {
        std::string a = prefix + "encoder.layer." + std::to_string(i) + ".attention.";
        AttentionBlock b;
        b.name = a + "heads";
        for (const char* p : {"query", "key", "value"}) {
            b.rows.push_back(a + "self." + p + ".weight");
            b.rows.push_back(a + "self." + p + ".bias");
        }
        b.cols = {a + "output.dense.weight"};
        b.n_heads = heads[i];
        out.push_back(std::move(b));
    }
    return out;
}

std::vector<std::string> bert_encoder_weights(int64_t n_layers, const std::string& prefix) {
    std::vector<std::string> out;
    for (int64_t i = 0; i < n_layers; i++) {
        std::string l = prefix + "encoder.layer." + std::to_string(i) + ".";
        for (const char* p : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                              "intermediate.dense", "output.dense"})
            out.push_back(l + p + ".weight");
    }
    return out;
}

std::vector<std::string> select_names(const std::vector<std::string>& all, const std::vector<std::string>& include,
                                      const std::vector<std::string>& ignore, const std::string& where) {
    auto check_matches = [&](const std::vector<std::string>& globs, const char* kind) {
        for (auto& g : globs) {
            bool any = false;
            for (auto& n : all) any = any || glob_match(g, n);
            ENSURE(any, where, ": ", kind, " selector '", g, "' matches no parameter");
        }
    };
    check_matches(include, "parameter");
    check_matches(ignore, "ignore");
    std::vector<std::string> out;
    for (auto& n : all) {
        bool in = false, out_ = false;
        for (auto& g : include) in = in || glob_match(g, n);
        for (auto& g : ignore) out_ = out_ || glob_match(g, n);
        if (in && !out_) out.push_back(n);
    }
    ENSURE(!out.empty(), where, ": the ignore list removes every selected parameter");
    return out;
}

std::vector<std::string> default_prunable(const std::vector<nn::NamedTensor>& params) {
    std::vector<std::string> out;
    for (auto& [n, t] : params)
        if (t.ndim() >= 2) out.push_back(n);
    return out;
}

std::string output_layer(const std::vector<nn::NamedTensor>& params) {
    std::string last;
    for (auto& [n, t] : params)
        if (t.ndim() >= 2) last = n;
    return last;
}

std::vector<nn::NamedTensor> pick(const std::vector<nn::NamedTensor>& params, const std::vector<std::string>& names) {
    std::vector<nn::NamedTensor> out;
    for (auto& n : names) out.emplace_back(n, lookup(params, n));
    return out;
}

}  // namespace prune
