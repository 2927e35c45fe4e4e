// Define-by-run reverse-mode autograd. Every differentiable op validates its inputs, runs a forward
// kernel, and (when an input needs a gradient and grad mode is on) records one Node on its output.
// The node keeps the op's inputs and a closure that calls the paired backward kernel.
//
// The backward contract, written once: a node's `backward(dout)` receives d(loss)/d(output) as a
// contiguous tensor of the output's shape and ADDS d(loss)/d(input) into the gradient buffer of each
// input that requires a gradient (input.grad_data()). Nothing ever overwrites a gradient; zeroing is
// explicit (Module::zero_grad / Optimizer::zero_grad). A closure never captures its own output
// tensor (that would be a reference cycle); it captures output.detach() when it needs the values.
//
// Tensor::backward() topologically sorts the graph and sweeps it once in reverse. Afterwards the
// graph is released (like PyTorch's retain_graph=False) and gradients of non-leaf tensors are freed
// unless retain_grad() was called.
#pragma once

#include <functional>
#include <vector>

#include "nn/tensor.hpp"

namespace nn {

struct Node {
    const char* name;
    std::vector<Tensor> inputs;
    std::function<void(const Tensor& dout)> backward;
};

bool grad_enabled();

// Disables graph recording in its scope (evaluation, optimizer updates, mask application).
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// True when grad mode is on and any of the tensors requires a gradient.
bool any_requires_grad(std::initializer_list<const Tensor*> tensors);

// Records `out` as produced by op `name` from `inputs`, with the given backward closure.
void attach_grad_fn(const Tensor& out, const char* name, std::vector<Tensor> inputs,
                    std::function<void(const Tensor& dout)> backward);

// Runs the reverse sweep from `root` seeded with `seed` (ones when undefined).
void run_backward(const Tensor& root, const Tensor& seed = Tensor());

}  // namespace nn
