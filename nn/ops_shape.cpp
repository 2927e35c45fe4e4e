// Views and copies: reshape, flatten, transpose, permute, narrow, contiguous. A view shares storage
// with its base; its backward adds the incoming gradient into the base's gradient through the view's
// geometry (strided_copy with accumulate).
#include <numeric>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"

namespace nn {

namespace kernels {

void strided_copy(float* dst, const Shape& dst_strides, const float* src, const Shape& src_strides,
                  const Shape& shape, bool accumulate) {
    int nd = shape.size();
    if (shape.numel() == 0) return;
    if (nd == 0) {
        dst[0] = accumulate ? dst[0] + src[0] : src[0];
        return;
    }
    // Walk all but the last dimension with an index counter; the last one is the inner loop.
    int64_t inner = shape[nd - 1], ds = dst_strides[nd - 1], ss = src_strides[nd - 1];
    int64_t outer = shape.numel() / inner;
    int64_t idx[kMaxDims] = {};
    int64_t dst_off = 0, src_off = 0;
    for (int64_t o = 0; o < outer; o++) {
        float* d = dst + dst_off;
        const float* s = src + src_off;
        if (accumulate) {
            for (int64_t i = 0; i < inner; i++) d[i * ds] += s[i * ss];
        } else {
            for (int64_t i = 0; i < inner; i++) d[i * ds] = s[i * ss];
        }
        for (int k = nd - 2; k >= 0; k--) {
            if (++idx[k] < shape[k]) {
                dst_off += dst_strides[k];
                src_off += src_strides[k];
                break;
            }
            dst_off -= dst_strides[k] * (shape[k] - 1);
            src_off -= src_strides[k] * (shape[k] - 1);
            idx[k] = 0;
        }
    }
}

}  // namespace kernels

namespace {

// A reshaped view of a contiguous `base`. Its gradient is contiguous too, so the backward is a
// plain element-wise add in the same order.
Tensor reshape_view(const Tensor& base, const Shape& shape) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = base.impl()->storage;
    impl->offset = base.impl()->offset;
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    Tensor out(std::move(impl));
    if (any_requires_grad({&base})) {
        attach_grad_fn(out, "reshape", {base}, [base](const Tensor& dout) {
            float* g = base.grad_data();
            const float* d = dout.data();
            for (int64_t i = 0, n = dout.numel(); i < n; i++) g[i] += d[i];
        });
    }
    return out;
}

int normalise_dim(int dim, int n, const char* what) {
    int d = dim < 0 ? dim + n : dim;
    ENSURE(d >= 0 && d < n, what, ": dimension ", dim, " out of range for ", n, " dims");
    return d;
}

}  // namespace

Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    Tensor out = Tensor::empty(shape());
    kernels::strided_copy(out.data(), out.strides(), data(), strides(), shape(), false);
    if (any_requires_grad({this})) {
        Tensor self = *this;
        attach_grad_fn(out, "contiguous", {self}, [self](const Tensor& dout) {
            // self's gradient is contiguous in self's logical shape, exactly like dout.
            float* g = self.grad_data();
            const float* d = dout.data();
            for (int64_t i = 0, n = dout.numel(); i < n; i++) g[i] += d[i];
        });
    }
    return out;
}

Tensor Tensor::reshape(const Shape& new_shape) const {
    Shape s = new_shape;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < s.size(); i++) {
        if (s[i] == -1) {
            ENSURE(infer < 0, "reshape: more than one -1 in ", new_shape);
            infer = i;
        } else {
            ENSURE(s[i] >= 0, "reshape: negative extent in ", new_shape);
            known *= s[i];
        }
    }
    if (infer >= 0) {
        ENSURE(known > 0 && numel() % known == 0, "reshape: cannot infer -1 in ", new_shape, " from ", shape());
        s[infer] = numel() / known;
    }
    ENSURE(s.numel() == numel(), "reshape: ", shape(), " (", numel(), " elements) to ", s);
    Tensor base = contiguous();
    return reshape_view(base, s);
}

Tensor Tensor::flatten(int start_dim) const {
    int d = normalise_dim(start_dim, ndim(), "flatten");
    Shape s;
    for (int i = 0; i < d; i++) s.push_back(shape()[i]);
    int64_t rest = 1;
    for (int i = d; i < ndim(); i++) rest *= shape()[i];
    s.push_back(rest);
    return reshape(s);
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
    int n = ndim();
    ENSURE(int(dims.size()) == n, "permute: ", dims.size(), " dims given for shape ", shape());
    std::vector<bool> seen(size_t(n), false);
    Shape s, st;
    for (int i = 0; i < n; i++) {
        int d = normalise_dim(dims[size_t(i)], n, "permute");
        ENSURE(!seen[size_t(d)], "permute: repeated dimension ", d);
        seen[size_t(d)] = true;
        s.push_back(shape()[d]);
        st.push_back(strides()[d]);
    }
    // Record the permutation in gradient units directly: the base's gradient is contiguous.
    Shape grad_st;
    Shape base_grad = contiguous_strides(shape());
    for (int i = 0; i < n; i++) grad_st.push_back(base_grad[normalise_dim(dims[size_t(i)], n, "permute")]);
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = impl_->storage;
    impl->offset = impl_->offset;
    impl->shape = s;
    impl->strides = st;
    Tensor out(std::move(impl));
    if (any_requires_grad({this})) {
        Tensor base = *this;
        attach_grad_fn(out, "permute", {base}, [base, s, grad_st](const Tensor& dout) {
            kernels::strided_copy(base.grad_data(), grad_st, dout.data(), dout.strides(), s, true);
        });
    }
    return out;
}

Tensor Tensor::transpose(int dim0, int dim1) const {
    int n = ndim();
    std::vector<int> dims(static_cast<size_t>(n));
    std::iota(dims.begin(), dims.end(), 0);
    std::swap(dims[size_t(normalise_dim(dim0, n, "transpose"))], dims[size_t(normalise_dim(dim1, n, "transpose"))]);
    return permute(dims);
}

Tensor Tensor::narrow(int dim, int64_t start, int64_t length) const {
    int d = normalise_dim(dim, ndim(), "narrow");
    ENSURE(start >= 0 && length >= 0 && start + length <= shape()[d], "narrow: [", start, ", ",
           start + length, ") out of range for extent ", shape()[d], " of dim ", d);
    Shape s = shape();
    s[d] = length;
    // Gradient geometry: the base's gradient is contiguous in the base's shape.
    Shape base_grad = contiguous_strides(shape());
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = impl_->storage;
    impl->offset = impl_->offset + start * strides()[d];
    impl->shape = s;
    impl->strides = strides();
    Tensor out(std::move(impl));
    if (any_requires_grad({this})) {
        Tensor base = *this;
        int64_t grad_offset = start * base_grad[d];
        attach_grad_fn(out, "narrow", {base}, [base, s, base_grad, grad_offset](const Tensor& dout) {
            kernels::strided_copy(base.grad_data() + grad_offset, base_grad, dout.data(), dout.strides(), s, true);
        });
    }
    return out;
}

}  // namespace nn
