// Row gathers: embedding lookup (with PyTorch's padding_idx: that row gets no gradient) and
// index_rows, which picks rows of an activation (the [CLS] position, the masked positions of MLM).
// Backward scatter-adds rows; threads split the columns so repeated indices never race.
#include <cstring>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

void gather_rows_forward(float* y, const float* x, const int64_t* idx, int64_t M, int64_t C) {
    parallel_for(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, C)), [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; m++) std::memcpy(y + m * C, x + idx[m] * C, size_t(C) * sizeof(float));
    });
}

void gather_rows_backward(float* dx, const float* dy, const int64_t* idx, int64_t M, int64_t C, int64_t skip) {
    // Column blocks of at least 16 floats per thread; within a block rows are added in order m = 0..M-1.
    int64_t n_col_blocks = (C + 15) / 16;
    parallel_for(n_col_blocks, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, M)), [&](int64_t b0, int64_t b1) {
        int64_t c0 = b0 * 16, c1 = std::min(C, b1 * 16);
        for (int64_t m = 0; m < M; m++) {
            if (idx[m] == skip) continue;
            float* d = dx + idx[m] * C;
            const float* s = dy + m * C;
            for (int64_t c = c0; c < c1; c++) d[c] += s[c];
        }
    });
}

}  // namespace kernels

namespace {

Tensor gather_rows(const Tensor& table_in, const IntTensor& idx, int64_t skip, const char* name) {
    ENSURE(table_in.ndim() == 2, name, ": table must be [N, C], got ", table_in.shape());
    Tensor table = table_in.contiguous();
    int64_t N = table.size(0), C = table.size(1), M = idx.numel();
    for (int64_t m = 0; m < M; m++)
        ENSURE(idx[m] >= 0 && idx[m] < N, name, ": index ", idx[m], " at position ", m, " is outside [0, ", N, ")");
    Shape out_shape = idx.shape;
    out_shape.push_back(C);
    Tensor y = Tensor::empty(out_shape);
    kernels::gather_rows_forward(y.data(), table.data(), idx.data(), M, C);
    if (any_requires_grad({&table})) {
        attach_grad_fn(y, name, {table}, [table, idx, skip, M, C](const Tensor& dy) {
            kernels::gather_rows_backward(table.grad_data(), dy.data(), idx.data(), M, C, skip);
        });
    }
    return y;
}

}  // namespace

Tensor embedding(const IntTensor& ids, const Tensor& weight, int64_t padding_idx) {
    ENSURE(padding_idx < 0 || (weight.ndim() == 2 && padding_idx < weight.size(0)), "embedding: padding_idx ",
           padding_idx, " is outside the table ", weight.shape());
    return gather_rows(weight, ids, padding_idx < 0 ? -1 : padding_idx, "embedding");
}

Tensor index_rows(const Tensor& x, const IntTensor& rows) {
    ENSURE(rows.shape.size() == 1, "index_rows: row indices must be one-dimensional, got ", rows.shape);
    return gather_rows(x, rows, -1, "index_rows");
}

}  // namespace nn
