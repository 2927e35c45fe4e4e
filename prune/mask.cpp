#include "prune/mask.hpp"

#include <map>

#include "nn/autograd.hpp"
#include "nn/check.hpp"

namespace prune {

namespace {

const char kMaskSuffix[] = "_mask";
constexpr size_t kMaskSuffixLen = sizeof(kMaskSuffix) - 1;

// x[i] = 0 where m[i] == 0 (a select, not a multiply: 0 * inf would be NaN).
void zero_where_masked(float* x, const float* m, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = m[i] != 0.0f ? x[i] : 0.0f;
}

const nn::Tensor& find_param(const std::vector<nn::NamedTensor>& params, const std::string& name) {
    for (auto& [n, t] : params)
        if (n == name) return t;
    RAISE("mask for '", name, "' but the model has no parameter of that name");
}

}  // namespace

void validate_mask(const std::string& name, const nn::Tensor& mask, const nn::Shape& shape) {
    ENSURE(mask.defined(), "mask of '", name, "' is undefined");
    ENSURE(mask.shape() == shape, "mask of '", name, "' has shape ", mask.shape(), ", the parameter has ", shape);
    nn::Tensor c = mask.contiguous();
    const float* m = c.data();
    for (int64_t i = 0; i < c.numel(); i++)
        ENSURE(m[i] == 0.0f || m[i] == 1.0f, "mask of '", name, "' holds ", m[i], " at flat index ", i,
               " (a mask must be 0 or 1)");
}

std::string mask_name(const std::string& param) { return param + kMaskSuffix; }

std::string param_of_mask(const std::string& entry) {
    if (entry.size() <= kMaskSuffixLen || entry.compare(entry.size() - kMaskSuffixLen, kMaskSuffixLen, kMaskSuffix) != 0)
        return "";
    return entry.substr(0, entry.size() - kMaskSuffixLen);
}

void MaskSet::set(const std::string& name, const nn::Tensor& mask) { set(name, mask, mask.shape()); }

void MaskSet::set(const std::string& name, const nn::Tensor& mask, const nn::Shape& param_shape) {
    validate_mask(name, mask, param_shape);
    nn::Tensor copy = mask.clone();
    for (auto& [n, t] : masks_)
        if (n == name) {
            t = copy;
            return;
        }
    masks_.emplace_back(name, copy);
}

const nn::Tensor* MaskSet::find(const std::string& name) const {
    for (auto& [n, t] : masks_)
        if (n == name) return &t;
    return nullptr;
}

void MaskSet::erase(const std::string& name) {
    for (size_t i = 0; i < masks_.size(); i++)
        if (masks_[i].first == name) {
            masks_.erase(masks_.begin() + long(i));
            return;
        }
}

std::vector<std::string> MaskSet::names() const {
    std::vector<std::string> out;
    for (auto& [n, t] : masks_) out.push_back(n);
    return out;
}

MaskSet MaskSet::clone() const {
    MaskSet c;
    for (auto& [n, t] : masks_) c.masks_.emplace_back(n, t.clone());
    return c;
}

int64_t MaskSet::n_kept(const std::vector<std::string>& names) const {
    int64_t kept = 0;
    for (auto& [n, t] : masks_) {
        bool wanted = names.empty();
        for (auto& w : names) wanted = wanted || w == n;
        if (!wanted) continue;
        const float* m = t.data();
        for (int64_t i = 0; i < t.numel(); i++) kept += m[i] != 0.0f;
    }
    return kept;
}

int64_t MaskSet::n_total(const std::vector<std::string>& names) const {
    int64_t total = 0;
    for (auto& [n, t] : masks_) {
        bool wanted = names.empty();
        for (auto& w : names) wanted = wanted || w == n;
        if (wanted) total += t.numel();
    }
    return total;
}

void MaskSet::apply(const std::vector<nn::NamedTensor>& params) const {
    for (auto& [name, m] : masks_) {
        const nn::Tensor& p = find_param(params, name);
        ENSURE(p.shape() == m.shape(), "mask of '", name, "' has shape ", m.shape(), ", the parameter has ", p.shape());
        ENSURE(p.is_contiguous(), "parameter '", name, "' is not contiguous");
        zero_where_masked(p.data(), m.data(), m.numel());
    }
}

void MaskSet::mask_gradients(const std::vector<nn::NamedTensor>& params) const {
    for (auto& [name, m] : masks_) {
        nn::Tensor g = find_param(params, name).grad();
        if (g.defined()) zero_where_masked(g.data(), m.data(), m.numel());
    }
}

void MaskSet::enforce(const nn::Optimizer& optimizer) const {
    const auto& params = optimizer.params();
    apply(params);
    mask_gradients(params);
    for (size_t i = 0; i < params.size(); i++) {
        const nn::Tensor* m = find(params[i].first);
        if (!m) continue;
        for (auto& [buffer, state] : optimizer.param_state(i)) {
            ENSURE(state.shape() == m->shape() && state.is_contiguous(), "optimizer state '", buffer, "' of '",
                   params[i].first, "' has shape ", state.shape(), ", the mask has ", m->shape());
            zero_where_masked(state.data(), m->data(), m->numel());
        }
    }
}

void MaskSet::put(nn::st::File& f) const {
    for (auto& [name, m] : masks_) f.put(mask_name(name), m);
}

MaskSet MaskSet::from_file(const nn::st::File& f, const std::vector<nn::NamedTensor>& params, const std::string& source) {
    MaskSet out;
    for (auto& e : f.entries()) {
        std::string p = param_of_mask(e.name);
        if (p.empty()) continue;
        nn::Tensor m = f.tensor(e.name);
        if (params.empty()) {
            try {
                out.set(p, m);
            } catch (const nn::Error& err) {
                RAISE(source, ": ", err.what());
            }
            continue;
        }
        const nn::Tensor* param = nullptr;
        for (auto& [n, t] : params)
            if (n == p) param = &t;
        ENSURE(param, source, ": mask '", e.name, "' belongs to no parameter of the model (no '", p, "')");
        try {
            out.set(p, m, param->shape());
        } catch (const nn::Error& err) {
            RAISE(source, ": ", err.what());
        }
    }
    return out;
}

void custom_from_mask(MaskSet& masks, const nn::Module& model, const std::string& name, const nn::Tensor& mask) {
    nn::Tensor p = model.parameter(name);
    validate_mask(name, mask, p.shape());
    nn::Tensor combined = mask.clone();
    if (const nn::Tensor* old = masks.find(name)) {
        float* c = combined.data();
        const float* o = old->data();
        for (int64_t i = 0; i < combined.numel(); i++) c[i] *= o[i];
    }
    masks.set(name, combined, p.shape());
    nn::NoGradGuard no_grad;
    zero_where_masked(p.data(), combined.data(), combined.numel());
}

void remove(MaskSet& masks, const nn::Module& model, const std::string& name) {
    const nn::Tensor* m = masks.find(name);
    ENSURE(m, "parameter '", name, "' has no mask to remove");
    nn::Tensor p = model.parameter(name);
    zero_where_masked(p.data(), m->data(), m->numel());
    masks.erase(name);
}

bool is_pruned(const MaskSet& masks, const nn::Module& model) {
    for (auto& [name, t] : model.named_parameters())
        if (masks.is_pruned(name)) return true;
    return false;
}

}  // namespace prune
