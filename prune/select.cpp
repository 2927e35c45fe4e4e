#include "prune/select.hpp"

#include <algorithm>
#include <cmath>

#include "nn/check.hpp"

namespace prune {

namespace {

// Strict order for ranking: lower score first, then lower position.
struct ByScore {
    const std::vector<double>& score;
    bool operator()(int64_t a, int64_t b) const { return score[a] < score[b] || (score[a] == score[b] && a < b); }
};

int normalise_dim(int dim, int ndim, const nn::Shape& shape, const std::string& what) {
    // PyTorch's _validate_pruning_dim raises IndexError "Invalid index {dim} for tensor of size {shape}".
    ENSURE(dim < ndim && dim >= -ndim, "Invalid index ", dim, " for tensor of size ", shape, " (", what, ")");
    return dim < 0 ? dim + ndim : dim;
}

std::vector<int64_t> alive_indices(const UnitScores& u) {
    std::vector<int64_t> idx;
    for (size_t g = 0; g < u.alive.size(); g++)
        if (u.alive[g]) idx.push_back(int64_t(g));
    return idx;
}

}  // namespace

Grouping::Layout Grouping::layout(const nn::Shape& shape, const std::string& what) const {
    Layout l;
    l.kind = kind;
    const int64_t numel = shape.numel();
    const int ndim = shape.size();
    switch (kind) {
        case Kind::Element:
            l.n_groups = numel;
            l.group_size = 1;
            break;
        case Kind::Slices: {
            // PyTorch's _validate_structured_pruning; head blocks may also split a 1-D bias.
            ENSURE(ndim > 1 || (n_blocks > 0 && ndim == 1),
                   "Structured pruning can only be applied to multidimensional tensors. Found tensor of shape ",
                   shape, " with ", ndim, " dims (", what, ")");
            int d = normalise_dim(dim, ndim, shape, what);
            l.extent = shape[d];
            for (int k = d + 1; k < ndim; k++) l.inner *= shape[k];
            if (n_blocks > 0) {
                ENSURE(l.extent % n_blocks == 0, what, ": ", n_blocks, " heads do not divide dim ", d, " of shape ", shape);
                l.block = l.extent / n_blocks;
                l.n_groups = n_blocks;
            } else {
                l.n_groups = l.extent;
            }
            l.group_size = l.n_groups ? numel / l.n_groups : 0;
            break;
        }
        case Kind::Kernels:
            ENSURE(ndim >= 3, what, ": kernel granularity needs a weight with >= 3 dims ([out, in, k...]), got shape ", shape);
            for (int k = 2; k < ndim; k++) l.inner *= shape[k];
            l.n_groups = shape[0] * shape[1];
            l.group_size = l.inner;
            break;
        case Kind::Tensor:
            l.n_groups = 1;
            l.group_size = numel;
            break;
    }
    return l;
}

int64_t UnitScores::n_alive() const {
    int64_t n = 0;
    for (uint8_t a : alive) n += a;
    return n;
}

UnitScores group_scores(const std::vector<Member>& members, const Reduce& reduce, const std::string& what) {
    ENSURE(!members.empty(), what, ": no tensors to score");
    const double p = reduce.p;
    ENSURE(reduce.signed_sum || p > 0.0, what, ": norm order p=", p, " must be positive (or inf)");
    const int64_t G = members[0].layout.n_groups;
    UnitScores u;
    u.score.assign(size_t(G), 0.0);
    u.alive.assign(size_t(G), 0);
    std::vector<int64_t> count(size_t(G), 0);
    const bool inf = std::isinf(p);
    for (auto& m : members) {
        ENSURE(m.layout.n_groups == G, what, ": coupled tensors have ", G, " and ", m.layout.n_groups, " units");
        nn::Tensor s = m.saliency.contiguous();
        nn::Tensor mk = m.mask.defined() ? m.mask.contiguous() : nn::Tensor();
        ENSURE(!mk.defined() || mk.numel() == s.numel(), what, ": mask and scores differ in size");
        const float* sv = s.data();
        const float* mv = mk.defined() ? mk.data() : nullptr;
        for (int64_t i = 0; i < s.numel(); i++) {
            int64_t g = m.layout.group_of(i);
            bool kept = !mv || mv[i] != 0.0f;
            double x = kept ? double(sv[i]) : 0.0;
            ENSURE(std::isfinite(x), what, ": non-finite score ", sv[i], " at flat index ", i);
            count[size_t(g)]++;
            if (kept) u.alive[size_t(g)] = 1;
            double& acc = u.score[size_t(g)];
            if (reduce.signed_sum) acc += x;
            else if (inf) acc = std::max(acc, std::fabs(x));
            else if (p == 1.0) acc += std::fabs(x);
            else if (p == 2.0) acc += x * x;
            else acc += std::pow(std::fabs(x), p);
        }
    }
    for (int64_t g = 0; g < G; g++) {
        double& acc = u.score[size_t(g)];
        double n = double(std::max<int64_t>(count[size_t(g)], 1));
        if (reduce.signed_sum) {
            if (reduce.normalize) acc /= n;
            continue;
        }
        if (!inf && p == 2.0) acc = std::sqrt(acc);
        else if (!inf && p != 1.0) acc = std::pow(acc, 1.0 / p);
        if (reduce.normalize && !inf) acc /= std::pow(n, 1.0 / p);
    }
    return u;
}

std::vector<uint8_t> unit_alive(const nn::Tensor& mask, const Grouping::Layout& layout) {
    std::vector<uint8_t> alive(size_t(layout.n_groups), mask.defined() ? 0 : 1);
    if (!mask.defined()) return alive;
    nn::Tensor mk = mask.contiguous();
    ENSURE(mk.numel() == layout.n_groups * layout.group_size, "unit_alive: mask of ", mk.numel(),
           " elements for ", layout.n_groups, " units of ", layout.group_size);
    for (int64_t i = 0; i < mk.numel(); i++)
        if (mk.data()[i] != 0.0f) alive[size_t(layout.group_of(i))] = 1;
    return alive;
}

UnitScores random_scores(const std::vector<Member>& members, nn::Rng& rng) {
    ENSURE(!members.empty(), "random scores: no tensors");
    const int64_t G = members[0].layout.n_groups;
    UnitScores u;
    u.alive.assign(size_t(G), 0);
    for (auto& m : members) {
        ENSURE(m.layout.n_groups == G, "random scores: coupled tensors have ", G, " and ", m.layout.n_groups, " units");
        std::vector<uint8_t> a = unit_alive(m.mask, m.layout);
        for (int64_t g = 0; g < G; g++) u.alive[size_t(g)] |= a[size_t(g)];
    }
    u.score.resize(size_t(G));
    for (auto& s : u.score) s = double(rng.uniform());
    return u;
}

std::vector<uint8_t> decide_local(const UnitScores& units, const Amount& amount, const std::string& what) {
    std::vector<int64_t> idx = alive_indices(units);
    int64_t n = amount.units_to_prune(int64_t(idx.size()), what);
    std::vector<uint8_t> alive = units.alive;
    if (n == 0) return alive;
    // The order is strict, so after this the first n entries are exactly the n lowest.
    std::nth_element(idx.begin(), idx.begin() + (n - 1), idx.end(), ByScore{units.score});
    for (int64_t k = 0; k < n; k++) alive[size_t(idx[size_t(k)])] = 0;
    return alive;
}

std::vector<std::vector<uint8_t>> decide_global(const std::vector<UnitScores>& targets, const Amount& amount,
                                                const GlobalOptions& o, const std::vector<std::string>& names) {
    ENSURE(names.size() == targets.size(), "decide_global: ", targets.size(), " targets but ", names.size(), " names");
    ENSURE(o.min_sparsity >= 0.0 && o.min_sparsity <= o.max_sparsity && o.max_sparsity <= 1.0,
           "global pruning caps need 0 <= min_sparsity <= max_sparsity <= 1, got ", o.min_sparsity, " and ",
           o.max_sparsity);
    const size_t T = targets.size();
    std::vector<std::vector<double>> score(T);
    int64_t total_alive = 0;
    for (size_t t = 0; t < T; t++) {
        score[t] = targets[t].score;
        ENSURE(targets[t].score.size() == targets[t].alive.size(), names[t], ": scores and survival flags differ in size");
        int64_t n_alive = targets[t].n_alive();
        total_alive += n_alive;
        if (o.layer_normalize && n_alive > 0) {
            double sum = 0.0;
            for (size_t g = 0; g < score[t].size(); g++)
                if (targets[t].alive[g]) sum += score[t][g];
            double mean = sum / double(n_alive);
            if (mean > 0.0)
                for (auto& s : score[t]) s /= mean;
        }
    }
    const int64_t N = amount.units_to_prune(total_alive, "global");
    std::vector<std::vector<uint8_t>> alive(T);
    std::vector<int64_t> capacity(T), pruned_now(T, 0);
    int64_t forced_total = 0;
    std::vector<std::vector<int64_t>> order(T);
    for (size_t t = 0; t < T; t++) {
        alive[t] = targets[t].alive;
        const int64_t G = int64_t(alive[t].size()), n_alive = targets[t].n_alive(), already = G - n_alive;
        // NOTE: the small slack keeps products like 0.9 * 10 from flooring to 8.
        int64_t max_pruned = int64_t(std::floor(o.max_sparsity * double(G) + 1e-9));
        int64_t min_pruned = int64_t(std::ceil(o.min_sparsity * double(G) - 1e-9));
        capacity[t] = std::max<int64_t>(0, max_pruned - already);
        int64_t forced = std::max<int64_t>(0, std::min(min_pruned - already, n_alive));
        ENSURE(forced <= capacity[t], names[t], ": min_sparsity ", o.min_sparsity, " exceeds max_sparsity ", o.max_sparsity,
               " for its ", G, " units");
        order[t] = alive_indices(targets[t]);
        std::sort(order[t].begin(), order[t].end(), ByScore{score[t]});
        for (int64_t k = 0; k < forced; k++) alive[t][size_t(order[t][size_t(k)])] = 0;
        pruned_now[t] = forced;
        forced_total += forced;
    }
    ENSURE(forced_total <= N, "global pruning: min_sparsity ", o.min_sparsity, " needs ", forced_total,
           " units pruned but the amount prunes only ", N);
    // The remaining candidates, merged across targets by (score, target, position).
    struct Candidate {
        double score;
        size_t target;
        int64_t index;
    };
    std::vector<Candidate> pool;
    for (size_t t = 0; t < T; t++)
        for (size_t k = size_t(pruned_now[t]); k < order[t].size(); k++)
            pool.push_back({score[t][size_t(order[t][k])], t, order[t][k]});
    std::sort(pool.begin(), pool.end(), [](const Candidate& a, const Candidate& b) {
        if (a.score != b.score) return a.score < b.score;
        if (a.target != b.target) return a.target < b.target;
        return a.index < b.index;
    });
    int64_t done = forced_total;
    for (size_t k = 0; k < pool.size() && done < N; k++) {
        const Candidate& c = pool[k];
        if (pruned_now[c.target] >= capacity[c.target]) continue;
        alive[c.target][size_t(c.index)] = 0;
        pruned_now[c.target]++;
        done++;
    }
    ENSURE(done == N, "global pruning: max_sparsity ", o.max_sparsity, " allows only ", done, " of the ", N,
           " units the amount asks for");
    return alive;
}

nn::Tensor expand_mask(const nn::Tensor& old_mask, const nn::Shape& shape, const Grouping::Layout& layout,
                       const std::vector<uint8_t>& alive) {
    ENSURE(int64_t(alive.size()) == layout.n_groups, "expand_mask: ", alive.size(), " flags for ", layout.n_groups, " units");
    nn::Tensor out = nn::Tensor::empty(shape);
    nn::Tensor old = old_mask.defined() ? old_mask.contiguous() : nn::Tensor();
    ENSURE(!old.defined() || old.shape() == shape, "expand_mask: mask shape ", old.shape(), " is not ", shape);
    float* o = out.data();
    for (int64_t i = 0; i < out.numel(); i++) {
        float keep = alive[size_t(layout.group_of(i))] ? 1.0f : 0.0f;
        o[i] = old.defined() ? old.data()[i] * keep : keep;
    }
    return out;
}

// ---- torch.nn.utils.prune ---------------------------------------------------------------------------

namespace {

nn::Tensor decide_one(const nn::Tensor& w, const nn::Tensor& mask, const Grouping& grouping, const Amount& amount,
                      double p, nn::Rng* rng, const std::string& what) {
    ENSURE(w.defined(), what, ": undefined tensor");
    if (mask.defined()) ENSURE(mask.shape() == w.shape(), what, ": mask shape ", mask.shape(), " differs from ", w.shape());
    Grouping::Layout layout = grouping.layout(w.shape(), what);
    std::vector<Member> members{{w, mask, layout}};
    UnitScores u = rng ? random_scores(members, *rng) : group_scores(members, Reduce{p, false, false}, what);
    return expand_mask(mask, w.shape(), layout, decide_local(u, amount, what));
}

}  // namespace

nn::Tensor l1_unstructured(const nn::Tensor& w, const Amount& amount, const nn::Tensor& mask) {
    return decide_one(w, mask, Grouping::element(), amount, 1.0, nullptr, "l1_unstructured");
}

nn::Tensor random_unstructured(const nn::Tensor& w, const Amount& amount, nn::Rng& rng, const nn::Tensor& mask) {
    return decide_one(w, mask, Grouping::element(), amount, 1.0, &rng, "random_unstructured");
}

nn::Tensor ln_structured(const nn::Tensor& w, const Amount& amount, double n, int dim, const nn::Tensor& mask) {
    return decide_one(w, mask, Grouping::slices(dim), amount, n, nullptr, "ln_structured");
}

nn::Tensor random_structured(const nn::Tensor& w, const Amount& amount, int dim, nn::Rng& rng, const nn::Tensor& mask) {
    return decide_one(w, mask, Grouping::slices(dim), amount, 1.0, &rng, "random_structured");
}

nn::Tensor row_unstructured(const nn::Tensor& w_in, const Amount& amount, const nn::Tensor& mask_in) {
    ENSURE(w_in.defined() && w_in.ndim() == 2, "row_unstructured: needs a matrix [N, C], got ",
           w_in.defined() ? nn::to_string(w_in.shape()) : std::string("an undefined tensor"));
    if (mask_in.defined())
        ENSURE(mask_in.shape() == w_in.shape(), "row_unstructured: mask shape ", mask_in.shape(), " differs from ", w_in.shape());
    nn::Tensor w = w_in.contiguous(), mask = mask_in.defined() ? mask_in.contiguous() : nn::Tensor();
    const int64_t N = w.size(0), C = w.size(1);
    nn::Tensor out = nn::Tensor::empty(w.shape());  // [N, C]
    nn::Tensor row = nn::Tensor::empty({C}), row_mask = mask.defined() ? nn::Tensor::empty({C}) : nn::Tensor();
    for (int64_t r = 0; r < N; r++) {
        std::copy_n(w.data() + r * C, C, row.data());
        if (mask.defined()) std::copy_n(mask.data() + r * C, C, row_mask.data());
        nn::Tensor m = decide_one(row, row_mask, Grouping::element(), amount, 1.0, nullptr,
                                  "row_unstructured (row " + std::to_string(r) + ")");
        std::copy_n(m.data(), C, out.data() + r * C);
    }
    return out;
}

std::vector<nn::Tensor> global_unstructured(const std::vector<nn::Tensor>& ws, const Amount& amount,
                                            const std::vector<nn::Tensor>& masks) {
    ENSURE(masks.empty() || masks.size() == ws.size(), "global_unstructured: ", ws.size(), " tensors but ",
           masks.size(), " masks");
    std::vector<UnitScores> units;
    std::vector<Grouping::Layout> layouts;
    std::vector<std::string> names;
    for (size_t i = 0; i < ws.size(); i++) {
        names.push_back("tensor " + std::to_string(i));
        nn::Tensor m = masks.empty() ? nn::Tensor() : masks[i];
        if (m.defined()) ENSURE(m.shape() == ws[i].shape(), names.back(), ": mask shape ", m.shape(), " differs from ", ws[i].shape());
        layouts.push_back(Grouping::element().layout(ws[i].shape(), names.back()));
        units.push_back(group_scores({{ws[i], m, layouts.back()}}, Reduce{}, names.back()));
    }
    auto alive = decide_global(units, amount, GlobalOptions{}, names);
    std::vector<nn::Tensor> out;
    for (size_t i = 0; i < ws.size(); i++)
        out.push_back(expand_mask(masks.empty() ? nn::Tensor() : masks[i], ws[i].shape(), layouts[i], alive[i]));
    return out;
}

// ---- names ---------------------------------------------------------------------------------------------

bool glob_match(const std::string& pattern, const std::string& name) {
    // Iterative wildcard match with one backtrack point (linear in practice, no recursion).
    size_t p = 0, n = 0, star = std::string::npos, resume = 0;
    while (n < name.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
            p++;
            n++;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (star != std::string::npos) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') p++;
    return p == pattern.size();
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    auto flush = [&]() {
        size_t b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
        if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
        cur.clear();
    };
    for (char c : text) {
        if (c == ',') flush();
        else cur += c;
    }
    flush();
    return out;
}

}  // namespace prune
