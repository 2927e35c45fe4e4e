// Tensor basics: shapes, storage, factories, element access and gradient buffers. The view methods
// (reshape, transpose, ...) are differentiable and live with their backward in ops_shape.cpp.
#include "nn/tensor.hpp"

#include <algorithm>
#include <cstring>
#include <ostream>
#include <sstream>

#include "nn/alloc.hpp"
#include "nn/autograd.hpp"
#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/threads.hpp"

namespace nn {

// ---- Shape ------------------------------------------------------------------------------------

Shape::Shape(std::initializer_list<int64_t> dims) {
    ENSURE(dims.size() <= size_t(kMaxDims), "at most ", kMaxDims, " dimensions, got ", dims.size());
    for (int64_t v : dims) d_[n_++] = v;
}

Shape::Shape(const std::vector<int64_t>& dims) {
    ENSURE(dims.size() <= size_t(kMaxDims), "at most ", kMaxDims, " dimensions, got ", dims.size());
    for (int64_t v : dims) d_[n_++] = v;
}

void Shape::push_back(int64_t v) {
    ENSURE(n_ < kMaxDims, "at most ", kMaxDims, " dimensions");
    d_[n_++] = v;
}

int64_t Shape::numel() const {
    int64_t n = 1;
    for (int i = 0; i < n_; i++) n *= d_[i];
    return n;
}

bool Shape::operator==(const Shape& o) const {
    if (n_ != o.n_) return false;
    for (int i = 0; i < n_; i++)
        if (d_[i] != o.d_[i]) return false;
    return true;
}

std::ostream& operator<<(std::ostream& os, const Shape& s) {
    os << '[';
    for (int i = 0; i < s.size(); i++) os << (i ? ", " : "") << s[i];
    return os << ']';
}

std::string to_string(const Shape& s) {
    std::ostringstream os;
    os << s;
    return os.str();
}

Shape contiguous_strides(const Shape& shape) {
    Shape st = shape;
    int64_t acc = 1;
    for (int i = shape.size() - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= shape[i];
    }
    return st;
}

// ---- Storage ----------------------------------------------------------------------------------

Storage::Storage(int64_t count) : n(count) {
    ENSURE(count >= 0, "negative element count ", count);
    data = static_cast<float*>(alloc_bytes(size_t(count) * sizeof(float)));
}

Storage::~Storage() { alloc_free(data, size_t(n) * sizeof(float)); }

// ---- Tensor -----------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape) {
    for (int64_t d : shape) ENSURE(d >= 0, "negative extent in shape ", shape);
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(shape.numel());
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    return Tensor(std::move(impl));
}

namespace {

// Large fills run on the thread pool: a training step zeroes megabytes of gradient buffers, and a
// serial memset there is time the other cores only wait.
void fill_contiguous(float* p, int64_t n, float value) {
    parallel_for(n, int64_t(1) << 16, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, value); });
}

}  // namespace

Tensor Tensor::zeros(const Shape& shape) {
    Tensor t = empty(shape);
    fill_contiguous(t.data(), t.numel(), 0.0f);
    return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
    Tensor t = empty(shape);
    t.fill_(value);
    return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
    ENSURE(int64_t(values.size()) == shape.numel(), values.size(), " values do not fill shape ", shape);
    Tensor t = empty(shape);
    std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
    return t;
}

const Shape& Tensor::shape() const {
    ENSURE(impl_, "use of an undefined tensor");
    return impl_->shape;
}

const Shape& Tensor::strides() const {
    ENSURE(impl_, "use of an undefined tensor");
    return impl_->strides;
}

int64_t Tensor::size(int dim) const {
    int n = ndim();
    int d = dim < 0 ? dim + n : dim;
    ENSURE(d >= 0 && d < n, "dimension ", dim, " out of range for shape ", shape());
    return impl_->shape[d];
}

bool Tensor::is_contiguous() const {
    const Shape& s = shape();
    int64_t expected = 1;
    for (int i = s.size() - 1; i >= 0; i--) {
        if (s[i] != 1 && impl_->strides[i] != expected) return false;
        expected *= s[i];
    }
    return true;
}

float* Tensor::data() const {
    ENSURE(impl_, "use of an undefined tensor");
    return impl_->storage->data + impl_->offset;
}

float Tensor::item() const {
    ENSURE(numel() == 1, "item() needs a one-element tensor, got shape ", shape());
    return data()[0];
}

float Tensor::at(std::initializer_list<int64_t> index) const {
    ENSURE(int(index.size()) == ndim(), "index of ", index.size(), " dims for shape ", shape());
    int64_t off = 0;
    int i = 0;
    for (int64_t v : index) {
        ENSURE(v >= 0 && v < impl_->shape[i], "index ", v, " out of range in dim ", i, " of ", shape());
        off += v * impl_->strides[i++];
    }
    return data()[off];
}

std::vector<float> Tensor::to_vector() const {
    Tensor c = detach().contiguous();
    return std::vector<float>(c.data(), c.data() + c.numel());
}

Tensor Tensor::clone() const {
    Tensor out = empty(shape());
    out.copy_(*this);
    return out;
}

Tensor Tensor::detach() const {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = impl_->storage;
    impl->offset = impl_->offset;
    impl->shape = impl_->shape;
    impl->strides = impl_->strides;
    return Tensor(std::move(impl));
}

void Tensor::copy_(const Tensor& src) const {
    ENSURE(shape() == src.shape(), "copy_ shape mismatch: ", shape(), " <- ", src.shape());
    if (is_contiguous() && src.is_contiguous()) {
        std::memmove(data(), src.data(), size_t(numel()) * sizeof(float));
    } else {
        kernels::strided_copy(data(), strides(), src.data(), src.strides(), shape(), false);
    }
}

void Tensor::fill_(float value) const {
    if (is_contiguous()) {
        fill_contiguous(data(), numel(), value);
    } else {
        Tensor tmp = full(shape(), value);
        copy_(tmp);
    }
}

const Tensor& Tensor::requires_grad_(bool on) const {
    ENSURE(impl_, "use of an undefined tensor");
    ENSURE(on || !impl_->grad_fn, "requires_grad_(false) on a non-leaf tensor; use detach()");
    impl_->requires_grad = on;
    return *this;
}

const Tensor& Tensor::retain_grad() const {
    impl_->retain_grad = true;
    return *this;
}

Tensor Tensor::grad() const {
    ENSURE(impl_, "use of an undefined tensor");
    return impl_->grad ? Tensor(impl_->grad) : Tensor();
}

float* Tensor::grad_data() const {
    ENSURE(impl_, "use of an undefined tensor");
    if (!impl_->grad) impl_->grad = zeros(shape()).impl_ptr();
    return impl_->grad->storage->data + impl_->grad->offset;
}

void Tensor::zero_grad() const {
    if (impl_ && impl_->grad) Tensor(impl_->grad).zero_();
}

void Tensor::set_grad(const Tensor& g) const {
    ENSURE(g.shape() == shape(), "gradient shape ", g.shape(), " != tensor shape ", shape());
    impl_->grad = g.is_contiguous() ? g.detach().impl_ptr() : g.detach().contiguous().impl_ptr();
}

void Tensor::backward() const { run_backward(*this); }

// ---- IntTensor --------------------------------------------------------------------------------

IntTensor IntTensor::from_vector(std::vector<int64_t> v, const Shape& s) {
    ENSURE(int64_t(v.size()) == s.numel(), v.size(), " values do not fill shape ", s);
    IntTensor t;
    t.shape = s;
    t.values = std::move(v);
    return t;
}

}  // namespace nn
