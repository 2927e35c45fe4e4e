#include "prune/scorers.hpp"

#include <cmath>

#include "nn/check.hpp"
#include "nn/ops.hpp"
#include "prune/pruner.hpp"

namespace prune {

std::string saliency_name(Saliency s) {
    switch (s) {
        case Saliency::None: return "none";
        case Saliency::Taylor: return "taylor";
        case Saliency::Snip: return "snip";
        case Saliency::Movement: return "movement";
    }
    return "?";
}

std::map<std::string, nn::Tensor> taylor_saliency(nn::Module& model, const data::Dataset& ds,
                                                  const std::vector<std::string>& params, int64_t batch_size,
                                                  int64_t n_batches, uint64_t seed, const MaskSet* masks) {
    ENSURE(n_batches >= 1 && batch_size >= 1, "taylor saliency: need at least one batch of at least one example");
    auto all = model.named_parameters();
    auto scored = pick(all, params.empty() ? default_prunable(all) : params);
    data::DataLoader loader(ds, batch_size, true, seed);
    ENSURE(loader.n_batches() >= 1, "taylor saliency: the dataset is empty");
    model.zero_grad();
    for (int64_t b = 0; b < std::min(n_batches, loader.n_batches()); b++) {
        data::Batch batch = loader.batch(b);
        nn::Tensor loss = nn::cross_entropy(model.forward(batch.x), batch.y);
        loss.backward();
    }
    if (masks) masks->mask_gradients(all);
    std::map<std::string, nn::Tensor> out;
    for (auto& [name, w] : scored) {
        nn::Tensor s = nn::Tensor::zeros(w.shape());
        nn::Tensor g = w.grad();
        if (g.defined())
            for (int64_t i = 0; i < w.numel(); i++) s.data()[i] = std::fabs(w.data()[i] * g.data()[i]);
        out[name] = s;
    }
    model.zero_grad();
    return out;
}

std::map<std::string, nn::Tensor> snip_saliency(nn::Module& model, const data::Dataset& ds,
                                                const std::vector<std::string>& params, int64_t batch_size,
                                                uint64_t seed, const MaskSet* masks) {
    auto out = taylor_saliency(model, ds, params, batch_size, 1, seed, masks);
    double total = 0.0;
    for (auto& [name, s] : out)
        for (int64_t i = 0; i < s.numel(); i++) total += s.data()[i];
    if (total > 0.0)
        for (auto& [name, s] : out)
            for (int64_t i = 0; i < s.numel(); i++) s.data()[i] = float(s.data()[i] / total);
    return out;
}

SaliencyTracker::SaliencyTracker(Saliency kind, std::vector<nn::NamedTensor> params)
    : kind_(kind), params_(std::move(params)) {
    ENSURE(kind == Saliency::Taylor || kind == Saliency::Movement, "a saliency tracker accumulates taylor or movement "
           "scores, not ", saliency_name(kind));
    reset();
}

void SaliencyTracker::reset() {
    scores_.clear();
    for (auto& [name, w] : params_) scores_[name] = nn::Tensor::zeros(w.shape());
    steps_ = 0;
}

void SaliencyTracker::accumulate() {
    for (auto& [name, w] : params_) {
        nn::Tensor g = w.grad();
        if (!g.defined()) continue;
        float* s = scores_[name].data();
        const float *wv = w.data(), *gv = g.data();
        if (kind_ == Saliency::Taylor)
            for (int64_t i = 0; i < w.numel(); i++) s[i] += std::fabs(wv[i] * gv[i]);
        else
            for (int64_t i = 0; i < w.numel(); i++) s[i] -= wv[i] * gv[i];
    }
    steps_++;
}

}  // namespace prune
