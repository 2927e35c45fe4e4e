// Module: a node of the model tree with named parameters, buffers and children. Names are dotted
// paths identical to PyTorch's state_dict keys ("features.0.weight"), layouts are PyTorch's, so a
// state dict moves between the two unchanged. Parameters are Tensor handles: replacing values goes
// through copy_ (never rebinding), so every holder of the handle sees the same tensor.
// Not here: optimizers (optim.hpp), checkpoint files (checkpoint.hpp), pruning masks (prune/).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/tensor.hpp"

namespace nn {

class Module {
public:
    explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    // Single-tensor forward; modules with other inputs (ids + mask) add their own entry points.
    virtual Tensor forward(const Tensor& x);
    Tensor operator()(const Tensor& x) { return forward(x); }

    const std::string& type_name() const { return type_name_; }

    // Recursive listings in registration order, with dotted names.
    std::vector<NamedTensor> named_parameters() const;
    std::vector<NamedTensor> named_buffers() const;
    std::vector<NamedTensor> state_dict() const;  // parameters then buffers, like PyTorch
    std::vector<std::pair<std::string, Module*>> named_modules();  // pre-order, self as ""
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

    Tensor parameter(const std::string& dotted_name) const;  // throws naming the module if absent
    Module* submodule(const std::string& dotted_name);        // null if absent
    bool is_integer_buffer(const std::string& dotted_name) const;  // e.g. num_batches_tracked

    // Copies values in by name. Every tensor of the module must be present with the same shape
    // (names listed in the error otherwise); `source` names the file for messages.
    void load_state_dict(const std::map<std::string, Tensor>& values, const std::string& source = "state dict",
                         bool strict = true);

    void train(bool on = true);
    void eval() { train(false); }
    bool training() const { return training_; }
    void zero_grad();
    int64_t num_parameters() const;

protected:
    // Registration returns the stored handle; keep a copy as a member for use in forward.
    Tensor register_parameter(const std::string& name, Tensor t);
    Tensor register_buffer(const std::string& name, Tensor t, bool integer = false);
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
        add_child(name, m);
        return m;
    }
    void add_child(const std::string& name, std::shared_ptr<Module> m);
    virtual void on_train_mode(bool) {}

private:
    void collect(const std::string& prefix, bool params, std::vector<NamedTensor>& out) const;
    std::string type_name_;
    std::vector<NamedTensor> params_, buffers_;
    std::vector<std::string> integer_buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
    bool training_ = true;
};

// Children called in order; named "0", "1", ... like torch.nn.Sequential.
class Sequential : public Module {
public:
    Sequential() : Module("Sequential") {}
    Sequential& add(std::shared_ptr<Module> m);
    Tensor forward(const Tensor& x) override;
    size_t size() const { return children().size(); }
    Module& at(size_t i) const { return *children()[i].second; }
};

}  // namespace nn
