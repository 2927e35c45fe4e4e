#include "nn/module.hpp"

#include <algorithm>

#include "nn/check.hpp"

namespace nn {

Tensor Module::forward(const Tensor&) {
    RAISE(type_name_, " has no single-tensor forward");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
    ENSURE(t.defined(), "parameter ", name, " of ", type_name_, " is undefined");
    t.requires_grad_(true);
    params_.emplace_back(name, t);
    return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool integer) {
    buffers_.emplace_back(name, t);
    if (integer) integer_buffers_.push_back(name);
    return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
    ENSURE(m != nullptr, "child ", name, " of ", type_name_, " is null");
    for (auto& [n, c] : children_) ENSURE(n != name, "duplicate child name ", name, " in ", type_name_);
    m->train(training_);
    children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, std::vector<NamedTensor>& out) const {
    for (auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
    for (auto& [n, c] : children_) c->collect(prefix + n + ".", params, out);
}

std::vector<NamedTensor> Module::named_parameters() const {
    std::vector<NamedTensor> out;
    collect("", true, out);
    return out;
}

std::vector<NamedTensor> Module::named_buffers() const {
    std::vector<NamedTensor> out;
    collect("", false, out);
    return out;
}

std::vector<NamedTensor> Module::state_dict() const {
    // PyTorch orders its state dict module by module (params, then buffers, then children); keys are
    // what matter for loading, and that order keeps files readable.
    std::vector<NamedTensor> out;
    std::function<void(const Module&, const std::string&)> walk = [&](const Module& m, const std::string& p) {
        for (auto& [n, t] : m.params_) out.emplace_back(p + n, t);
        for (auto& [n, t] : m.buffers_) out.emplace_back(p + n, t);
        for (auto& [n, c] : m.children_) walk(*c, p + n + ".");
    };
    walk(*this, "");
    return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
    std::vector<std::pair<std::string, Module*>> out;
    std::function<void(Module&, const std::string&)> walk = [&](Module& m, const std::string& name) {
        out.emplace_back(name, &m);
        for (auto& [n, c] : m.children_) walk(*c, name.empty() ? n : name + "." + n);
    };
    walk(*this, "");
    return out;
}

Module* Module::submodule(const std::string& dotted) {
    if (dotted.empty()) return this;
    size_t dot = dotted.find('.');
    std::string head = dotted.substr(0, dot);
    for (auto& [n, c] : children_)
        if (n == head) return dot == std::string::npos ? c.get() : c->submodule(dotted.substr(dot + 1));
    return nullptr;
}

Tensor Module::parameter(const std::string& dotted) const {
    for (auto& [n, t] : named_parameters())
        if (n == dotted) return t;
    RAISE(type_name_, " has no parameter named '", dotted, "'");
}

bool Module::is_integer_buffer(const std::string& dotted) const {
    size_t dot = dotted.rfind('.');
    std::string owner = dot == std::string::npos ? "" : dotted.substr(0, dot);
    std::string leaf = dot == std::string::npos ? dotted : dotted.substr(dot + 1);
    const Module* m = const_cast<Module*>(this)->submodule(owner);
    return m && std::find(m->integer_buffers_.begin(), m->integer_buffers_.end(), leaf) != m->integer_buffers_.end();
}

void Module::load_state_dict(const std::map<std::string, Tensor>& values, const std::string& source, bool strict) {
    std::vector<std::string> missing;
    for (auto& [name, t] : state_dict()) {
        auto it = values.find(name);
        if (it == values.end()) {
            missing.push_back(name);
            continue;
        }
        ENSURE(it->second.shape() == t.shape(), source, ": tensor '", name, "' has shape ", it->second.shape(),
               " but the model expects ", t.shape());
    }
    if (strict) {
        std::string list;
        for (auto& m : missing) list += (list.empty() ? "" : ", ") + m;
        ENSURE(missing.empty(), source, ": missing tensors for this model: ", list);
    }
    for (auto& [name, t] : state_dict()) {
        auto it = values.find(name);
        if (it != values.end()) t.copy_(it->second);
    }
}

void Module::train(bool on) {
    training_ = on;
    on_train_mode(on);
    for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
    for (auto& [n, t] : named_parameters()) t.zero_grad();
}

int64_t Module::num_parameters() const {
    int64_t n = 0;
    for (auto& [name, t] : named_parameters()) n += t.numel();
    return n;
}

Sequential& Sequential::add(std::shared_ptr<Module> m) {
    add_child(std::to_string(children().size()), std::move(m));
    return *this;
}

Tensor Sequential::forward(const Tensor& x) {
    Tensor h = x;
    for (auto& [n, c] : children()) h = c->forward(h);
    return h;
}

}  // namespace nn
