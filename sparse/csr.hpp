// Compressed sparse row (CSR) matrices built from pruned tensors: the storage format of sparse layers
// and sparse checkpoints. Two index widths: int32 column indices (Csr) and 16-bit ones (Csr16) for
// matrices with at most 65,535 columns, which store a non-zero in 6 bytes instead of 8.
// Not here: the products (kernels.hpp), layers and compile() (modules.hpp), files (checkpoint.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/tensor.hpp"

namespace sparse {

constexpr int64_t kCsr16MaxCols = 65535;

// An [rows, cols] float matrix with nnz stored entries. Row m holds entries row_ptr[m] ..
// row_ptr[m+1]-1; entry j sits at column col_idx[j] with value values[j].
// Invariants (validate()): row_ptr has rows+1 entries, starts at 0, never decreases and ends at nnz;
// col_idx and values hold nnz entries; within a row the columns are strictly increasing and in
// [0, cols). A stored value may be 0 (a position the mask keeps whose weight happens to be zero):
// the pattern is the mask's, not the zeros'.
// `values` is a tensor handle ([nnz]): copies of a CsrMatrix share their values, so a trainable layer
// and its optimizer see the same numbers. The index arrays are plain vectors.
template <class Index>
struct CsrMatrix {
    int64_t rows = 0, cols = 0;
    std::vector<int32_t> row_ptr{0};
    std::vector<Index> col_idx;
    nn::Tensor values = nn::Tensor::empty({0});

    int64_t nnz() const { return int64_t(col_idx.size()); }
    double density() const { return rows > 0 && cols > 0 ? double(nnz()) / double(rows * cols) : 0.0; }
    int64_t bytes() const;  // values + column indices + row pointers
    // Throws nn::Error naming `what` and the first broken invariant (with the row and entry).
    void validate(const std::string& what = "CSR matrix") const;
};

using Csr = CsrMatrix<int32_t>;
using Csr16 = CsrMatrix<uint16_t>;

// From a dense tensor of rank >= 2, viewed as [shape[0], product of the rest] (a Conv2d weight
// [OC, IC, KH, KW] becomes [OC, IC*KH*KW]). The pattern is mask != 0 when a mask of the same shape is
// given (values there are stored even when zero), else value != 0.
Csr from_dense(const nn::Tensor& dense, const nn::Tensor& mask = nn::Tensor());
// The [rows, cols] dense matrix (zeros elsewhere).
template <class Index>
nn::Tensor to_dense(const CsrMatrix<Index>& m);
// The mask of the pattern: [rows, cols] of 0/1.
template <class Index>
nn::Tensor pattern_mask(const CsrMatrix<Index>& m);

// Index width conversions (values are copied, not shared). to_csr16 needs cols <= 65535.
Csr16 to_csr16(const Csr& m);
Csr to_csr32(const Csr16& m);

// The transpose [cols, rows]. When `perm` is given it receives, for every entry of the result, the
// position of the same entry in `m` (so transposed values = m.values[perm], refreshed cheaply after
// the values change while the pattern stays).
template <class Index>
CsrMatrix<Index> transpose(const CsrMatrix<Index>& m, std::vector<int32_t>* perm = nullptr);

// Bytes of each storage of an [rows, cols] matrix with nnz entries (float32 values).
int64_t dense_bytes(int64_t rows, int64_t cols);
int64_t csr_bytes(int64_t rows, int64_t nnz);
int64_t csr16_bytes(int64_t rows, int64_t nnz);  // meaningful when cols <= kCsr16MaxCols

}  // namespace sparse
