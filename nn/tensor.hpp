// The one tensor type: float32, row-major, shape + strides over shared storage from the caching
// allocator. Element (i0, ..., ik) lives at data()[i0*stride[0] + ... + ik*stride[k]], where data()
// already includes the view's offset into its storage. Views (reshape, transpose, narrow) share
// storage; contiguous() copies only when needed. The autograd fields live here too (grad, grad_fn);
// the graph itself is in autograd.hpp and the differentiable ops in ops.hpp.
// Integer data (labels, token ids) uses the separate, much simpler IntTensor.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace nn {

constexpr int kMaxDims = 6;

// A small fixed-capacity list of extents (or strides); no heap allocation.
class Shape {
public:
    Shape() = default;
    Shape(std::initializer_list<int64_t> dims);
    explicit Shape(const std::vector<int64_t>& dims);

    int size() const { return n_; }
    bool empty() const { return n_ == 0; }
    int64_t operator[](int i) const { return d_[i]; }
    int64_t& operator[](int i) { return d_[i]; }
    int64_t back() const { return d_[n_ - 1]; }
    const int64_t* begin() const { return d_; }
    const int64_t* end() const { return d_ + n_; }
    void push_back(int64_t v);
    int64_t numel() const;  // product of extents (1 for a scalar)
    std::vector<int64_t> vec() const { return {begin(), end()}; }
    bool operator==(const Shape& o) const;
    bool operator!=(const Shape& o) const { return !(*this == o); }

private:
    int64_t d_[kMaxDims] = {};
    int n_ = 0;
};
std::ostream& operator<<(std::ostream& os, const Shape& s);  // "[2, 3]"
std::string to_string(const Shape& s);
Shape contiguous_strides(const Shape& shape);

// A block of floats owned by the caching allocator.
struct Storage {
    explicit Storage(int64_t n);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    float* data;
    int64_t n;
};

struct Node;
struct TensorImpl {
    std::shared_ptr<Storage> storage;
    int64_t offset = 0;
    Shape shape, strides;
    bool requires_grad = false;
    bool retain_grad = false;          // keep .grad of a non-leaf after backward
    std::shared_ptr<TensorImpl> grad;  // contiguous, same shape; allocated at first accumulation
    std::shared_ptr<Node> grad_fn;     // the op that produced this tensor; null for leaves
};

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    // Factories. empty() leaves the values uninitialised (reused allocator blocks hold old data).
    static Tensor empty(const Shape& shape);
    static Tensor zeros(const Shape& shape);
    static Tensor ones(const Shape& shape) { return full(shape, 1.0f); }
    static Tensor full(const Shape& shape, float value);
    static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
    static Tensor scalar(float value) { return full(Shape{}, value); }

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const;
    const Shape& strides() const;
    int ndim() const { return shape().size(); }
    int64_t size(int dim) const;  // negative dims count from the end
    int64_t numel() const { return shape().numel(); }
    bool is_contiguous() const;

    float* data() const;        // first element of this view
    float item() const;         // the single value of a one-element tensor
    float at(std::initializer_list<int64_t> index) const;  // bounds-checked, for tests and tools
    std::vector<float> to_vector() const;                   // values in row-major order

    // Copies and in-place updates; none of these is recorded by autograd.
    Tensor clone() const;                 // contiguous deep copy, detached
    Tensor detach() const;                // same storage, no graph, requires_grad false
    void copy_(const Tensor& src) const;  // same shape required; src may be strided
    void fill_(float value) const;
    void zero_() const { fill_(0.0f); }

    // Views (recorded by autograd). reshape copies first when the view is not contiguous;
    // one extent may be -1.
    Tensor reshape(const Shape& shape) const;
    Tensor flatten(int start_dim = 1) const;  // keeps dims before start_dim
    Tensor transpose(int dim0, int dim1) const;
    Tensor permute(const std::vector<int>& dims) const;
    Tensor narrow(int dim, int64_t start, int64_t length) const;
    Tensor contiguous() const;

    // Autograd.
    bool requires_grad() const { return impl_ && impl_->requires_grad; }
    const Tensor& requires_grad_(bool on = true) const;
    const Tensor& retain_grad() const;
    bool is_leaf() const { return !impl_->grad_fn; }
    Tensor grad() const;        // undefined until something accumulated into it
    float* grad_data() const;   // the gradient buffer, allocated zero-filled on first use
    void zero_grad() const;     // zeroes the buffer if present
    void set_grad(const Tensor& g) const;  // replaces the gradient (shape must match)
    void backward() const;      // this must hold one element; seeds d(this) = 1

    TensorImpl* impl() const { return impl_.get(); }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
    bool same(const Tensor& o) const { return impl_ == o.impl_; }

private:
    std::shared_ptr<TensorImpl> impl_;
};

// Labels and token ids: contiguous int64 values with a shape. No autograd, no views.
struct IntTensor {
    Shape shape;
    std::vector<int64_t> values;

    IntTensor() = default;
    explicit IntTensor(const Shape& s, int64_t fill = 0) : shape(s), values(size_t(s.numel()), fill) {}
    static IntTensor from_vector(std::vector<int64_t> v, const Shape& s);
    int64_t numel() const { return int64_t(values.size()); }
    int64_t* data() { return values.data(); }
    const int64_t* data() const { return values.data(); }
    int64_t operator[](int64_t i) const { return values[size_t(i)]; }
};

using NamedTensor = std::pair<std::string, Tensor>;

}  // namespace nn
