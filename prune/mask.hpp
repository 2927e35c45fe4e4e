// Masks on named parameters and their enforcement. A mask is a 0/1 float tensor with its parameter's
// shape (validated); a MaskSet holds the masks of a model by parameter name. Masks are enforced by a
// visible call, never by hidden hooks: after every optimizer step `enforce(optimizer)` zeroes the
// masked weights, their gradients and their optimizer state (momentum_buffer, exp_avg, exp_avg_sq),
// so neither momentum nor weight decay can bring a pruned weight back. In files a mask is stored as
// "<param>_mask", PyTorch's buffer name (torch.nn.utils.prune).
// Not here: deciding masks (select.hpp, pruner.hpp); the parameters themselves stay plain tensors
// (there is no weight_orig: pruned values are zeroed in place).
#pragma once

#include <string>
#include <vector>

#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "nn/safetensors.hpp"
#include "nn/tensor.hpp"

namespace prune {

// Throws nn::Error naming `name` unless `mask` has shape `shape` and every value is 0 or 1.
void validate_mask(const std::string& name, const nn::Tensor& mask, const nn::Shape& shape);

// The file name of a parameter's mask ("fc1.weight" -> "fc1.weight_mask") and back ("" when `entry`
// is not a mask name).
std::string mask_name(const std::string& param);
std::string param_of_mask(const std::string& entry);

class MaskSet {
public:
    // Adds or replaces the mask of `name` (validated; stored as a contiguous copy).
    void set(const std::string& name, const nn::Tensor& mask);
    void set(const std::string& name, const nn::Tensor& mask, const nn::Shape& param_shape);
    const nn::Tensor* find(const std::string& name) const;
    bool is_pruned(const std::string& name) const { return find(name) != nullptr; }
    void erase(const std::string& name);
    const std::vector<nn::NamedTensor>& masks() const { return masks_; }
    std::vector<std::string> names() const;
    size_t size() const { return masks_.size(); }
    bool empty() const { return masks_.empty(); }
    MaskSet clone() const;  // deep copy (masks are tensors: copies of a MaskSet share them)

    // Units kept (ones) and total, over the masks of `names` (all masks when empty).
    int64_t n_kept(const std::vector<std::string>& names = {}) const;
    int64_t n_total(const std::vector<std::string>& names = {}) const;

    // Enforcement. Every masked name must be among the tensors given (a mask for a parameter the
    // model lacks is an error, not a silent no-op). Pruned values become exactly 0.0f (NaN or inf
    // included).
    void apply(const std::vector<nn::NamedTensor>& params) const;           // weights
    void apply(const nn::Module& model) const { apply(model.named_parameters()); }
    void mask_gradients(const std::vector<nn::NamedTensor>& params) const;  // .grad, when present
    void mask_gradients(const nn::Module& model) const { mask_gradients(model.named_parameters()); }
    // Weights, gradients and every optimizer state tensor of the masked parameters.
    void enforce(const nn::Optimizer& optimizer) const;

    // Files: each mask as "<name>_mask" (F32), and back. from_file takes every "<p>_mask" entry
    // whose parameter p is in `params` (shape checked); masks for unknown parameters are an error
    // naming `source`. With params empty, every "*_mask" entry is taken as is.
    void put(nn::st::File& f) const;
    static MaskSet from_file(const nn::st::File& f, const std::vector<nn::NamedTensor>& params,
                             const std::string& source);

private:
    std::vector<nn::NamedTensor> masks_;
};

// torch.nn.utils.prune equivalents on a model and its MaskSet.
// custom_from_mask: the parameter's mask becomes (existing mask) * mask, and the weights are masked.
void custom_from_mask(MaskSet& masks, const nn::Module& model, const std::string& name, const nn::Tensor& mask);
// remove: makes the pruning permanent (weights keep their zeros) and forgets the mask.
void remove(MaskSet& masks, const nn::Module& model, const std::string& name);
// is_pruned: whether any parameter of `model` has a mask.
bool is_pruned(const MaskSet& masks, const nn::Module& model);

}  // namespace prune
