#include "nn/autograd.hpp"

#include <unordered_set>

#include "nn/check.hpp"

namespace nn {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

bool any_requires_grad(std::initializer_list<const Tensor*> tensors) {
    if (!t_grad_enabled) return false;
    for (const Tensor* t : tensors)
        if (t->defined() && t->requires_grad()) return true;
    return false;
}

void attach_grad_fn(const Tensor& out, const char* name, std::vector<Tensor> inputs,
                    std::function<void(const Tensor& dout)> backward) {
    auto node = std::make_shared<Node>();
    node->name = name;
    node->inputs = std::move(inputs);
    node->backward = std::move(backward);
    out.impl()->grad_fn = std::move(node);
    out.impl()->requires_grad = true;
}

void run_backward(const Tensor& root, const Tensor& seed) {
    ENSURE(root.defined() && root.requires_grad(),
           "backward() called on a tensor that does not require grad (no parameter reached it)");
    // Iterative post-order DFS: deep graphs must not overflow the stack.
    // `order` owns its entries: releasing a node below may drop the last other reference to an input.
    std::vector<std::shared_ptr<TensorImpl>> order;
    std::unordered_set<TensorImpl*> visited;
    std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack{{root.impl_ptr(), 0}};
    visited.insert(root.impl());
    while (!stack.empty()) {
        auto& [impl, next] = stack.back();
        Node* node = impl->grad_fn.get();
        if (node && next < node->inputs.size()) {
            const auto& child = node->inputs[next++].impl_ptr();
            if (child && child->requires_grad && visited.insert(child.get()).second) stack.push_back({child, 0});
        } else {
            order.push_back(impl);
            stack.pop_back();
        }
    }

    if (seed.defined()) {
        ENSURE(seed.shape() == root.shape(), "backward seed shape ", seed.shape(), " != ", root.shape());
        Tensor(root.impl_ptr()).set_grad(seed.clone());
    } else {
        ENSURE(root.numel() == 1, "backward() without a seed needs a one-element tensor, got ", root.shape());
        Tensor(root.impl_ptr()).grad_data()[0] += 1.0f;
    }

    NoGradGuard no_grad;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        TensorImpl* impl = it->get();
        if (!impl->grad_fn) continue;
        if (impl->grad) impl->grad_fn->backward(Tensor(impl->grad));
        if (!impl->retain_grad) impl->grad.reset();
        impl->grad_fn.reset();  // release the graph as we go
    }
}

}  // namespace nn
