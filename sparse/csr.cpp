#include "sparse/csr.hpp"

#include <cstring>

#include "nn/check.hpp"

namespace sparse {

template <class Index>
int64_t CsrMatrix<Index>::bytes() const {
    return nnz() * int64_t(sizeof(float) + sizeof(Index)) + int64_t(row_ptr.size()) * int64_t(sizeof(int32_t));
}

template <class Index>
void CsrMatrix<Index>::validate(const std::string& what) const {
    ENSURE(rows >= 0 && cols >= 0, what, ": negative shape [", rows, ", ", cols, "]");
    ENSURE(sizeof(Index) == 4 || cols <= kCsr16MaxCols, what, ": ", cols,
           " columns do not fit 16-bit column indices (at most ", kCsr16MaxCols, ")");
    ENSURE(int64_t(row_ptr.size()) == rows + 1, what, ": row_ptr has ", row_ptr.size(), " entries, expected rows + 1 = ",
           rows + 1);
    ENSURE(row_ptr[0] == 0, what, ": row_ptr[0] is ", row_ptr[0], ", must be 0");
    ENSURE(values.defined() && values.ndim() == 1 && values.numel() == nnz(), what, ": ",
           values.defined() ? nn::to_string(values.shape()) : std::string("no"), " values for ", nnz(),
           " column indices");
    ENSURE(int64_t(row_ptr[size_t(rows)]) == nnz(), what, ": row_ptr ends at ", row_ptr[size_t(rows)], " but there are ",
           nnz(), " entries");
    // Row pointers first: once they never decrease, every row's range lies inside [0, nnz].
    for (int64_t m = 0; m < rows; m++)
        ENSURE(row_ptr[size_t(m)] <= row_ptr[size_t(m) + 1], what, ": row_ptr decreases at row ", m, " (",
               row_ptr[size_t(m)], " then ", row_ptr[size_t(m) + 1], ")");
    for (int64_t m = 0; m < rows; m++) {
        for (int32_t j = row_ptr[size_t(m)]; j < row_ptr[size_t(m) + 1]; j++) {
            int64_t c = int64_t(col_idx[size_t(j)]);
            ENSURE(c >= 0 && c < cols, what, ": row ", m, ", entry ", j, ": column ", c, " is outside [0, ", cols, ")");
            ENSURE(j == row_ptr[size_t(m)] || c > int64_t(col_idx[size_t(j) - 1]), what, ": row ", m, ", entry ", j,
                   ": column ", c, " does not follow column ", int64_t(col_idx[size_t(j) - 1]),
                   " (columns must be sorted and unique within a row)");
        }
    }
}

template struct CsrMatrix<int32_t>;
template struct CsrMatrix<uint16_t>;

Csr from_dense(const nn::Tensor& dense, const nn::Tensor& mask) {
    ENSURE(dense.defined() && dense.ndim() >= 2, "sparse::from_dense: need a tensor of rank >= 2, got ",
           dense.defined() ? nn::to_string(dense.shape()) : std::string("an undefined tensor"));
    ENSURE(!mask.defined() || mask.shape() == dense.shape(), "sparse::from_dense: mask ", mask.shape(),
           " does not match the tensor's shape ", dense.shape());
    nn::Tensor w = dense.contiguous();
    nn::Tensor k = mask.defined() ? mask.contiguous() : nn::Tensor();
    Csr m;
    m.rows = w.size(0);
    m.cols = 1;
    for (int i = 1; i < w.ndim(); i++) m.cols *= w.size(i);
    const float* wp = w.data();
    const float* kp = k.defined() ? k.data() : wp;
    int64_t n = 0;
    for (int64_t i = 0; i < w.numel(); i++) n += kp[i] != 0.0f;
    ENSURE(n <= INT32_MAX, "sparse::from_dense: ", n, " non-zeros exceed the int32 row pointers");
    m.row_ptr.assign(size_t(m.rows) + 1, 0);
    m.col_idx.resize(size_t(n));
    m.values = nn::Tensor::empty({n});
    float* vp = m.values.data();
    int64_t j = 0;
    for (int64_t r = 0; r < m.rows; r++) {
        for (int64_t c = 0; c < m.cols; c++) {
            int64_t i = r * m.cols + c;
            if (kp[i] == 0.0f) continue;
            m.col_idx[size_t(j)] = int32_t(c);
            vp[j++] = wp[i];
        }
        m.row_ptr[size_t(r) + 1] = int32_t(j);
    }
    return m;
}

template <class Index>
nn::Tensor to_dense(const CsrMatrix<Index>& m) {
    nn::Tensor out = nn::Tensor::zeros({m.rows, m.cols});
    float* o = out.data();
    const float* v = m.values.data();
    for (int64_t r = 0; r < m.rows; r++)
        for (int32_t j = m.row_ptr[size_t(r)]; j < m.row_ptr[size_t(r) + 1]; j++)
            o[r * m.cols + int64_t(m.col_idx[size_t(j)])] = v[j];
    return out;
}

template <class Index>
nn::Tensor pattern_mask(const CsrMatrix<Index>& m) {
    nn::Tensor out = nn::Tensor::zeros({m.rows, m.cols});
    float* o = out.data();
    for (int64_t r = 0; r < m.rows; r++)
        for (int32_t j = m.row_ptr[size_t(r)]; j < m.row_ptr[size_t(r) + 1]; j++)
            o[r * m.cols + int64_t(m.col_idx[size_t(j)])] = 1.0f;
    return out;
}

template nn::Tensor to_dense(const Csr&);
template nn::Tensor to_dense(const Csr16&);
template nn::Tensor pattern_mask(const Csr&);
template nn::Tensor pattern_mask(const Csr16&);

namespace {

template <class To, class From>
CsrMatrix<To> convert(const CsrMatrix<From>& m) {
    CsrMatrix<To> out;
    out.rows = m.rows;
    out.cols = m.cols;
    out.row_ptr = m.row_ptr;
    out.col_idx.assign(m.col_idx.begin(), m.col_idx.end());
    out.values = m.values.clone();
    return out;
}

}  // namespace

Csr16 to_csr16(const Csr& m) {
    ENSURE(m.cols <= kCsr16MaxCols, "sparse::to_csr16: ", m.cols, " columns do not fit 16-bit indices (at most ",
           kCsr16MaxCols, ")");
    return convert<uint16_t>(m);
}

Csr to_csr32(const Csr16& m) { return convert<int32_t>(m); }

template <class Index>
CsrMatrix<Index> transpose(const CsrMatrix<Index>& m, std::vector<int32_t>* perm) {
    ENSURE(sizeof(Index) == 4 || m.rows <= kCsr16MaxCols, "sparse::transpose: ", m.rows,
           " rows do not fit the 16-bit column indices of the transpose");
    CsrMatrix<Index> t;
    t.rows = m.cols;
    t.cols = m.rows;
    t.row_ptr.assign(size_t(t.rows) + 1, 0);
    for (Index c : m.col_idx) t.row_ptr[size_t(c) + 1]++;
    for (int64_t r = 0; r < t.rows; r++) t.row_ptr[size_t(r) + 1] += t.row_ptr[size_t(r)];
    t.col_idx.resize(m.col_idx.size());
    t.values = nn::Tensor::empty({m.nnz()});
    std::vector<int32_t> next(t.row_ptr.begin(), t.row_ptr.end() - 1);
    std::vector<int32_t> p(size_t(m.nnz()));
    const float* v = m.values.data();
    float* tv = t.values.data();
    // Rows of m are visited in order, so each row of the transpose receives increasing columns.
    for (int64_t r = 0; r < m.rows; r++)
        for (int32_t j = m.row_ptr[size_t(r)]; j < m.row_ptr[size_t(r) + 1]; j++) {
            int32_t dst = next[size_t(m.col_idx[size_t(j)])]++;
            t.col_idx[size_t(dst)] = Index(r);
            tv[dst] = v[j];
            p[size_t(dst)] = j;
        }
    if (perm) *perm = std::move(p);
    return t;
}

template Csr transpose(const Csr&, std::vector<int32_t>*);
template Csr16 transpose(const Csr16&, std::vector<int32_t>*);

int64_t dense_bytes(int64_t rows, int64_t cols) { return rows * cols * int64_t(sizeof(float)); }
int64_t csr_bytes(int64_t rows, int64_t nnz) { return nnz * 8 + (rows + 1) * 4; }
int64_t csr16_bytes(int64_t rows, int64_t nnz) { return nnz * 6 + (rows + 1) * 4; }

}  // namespace sparse
