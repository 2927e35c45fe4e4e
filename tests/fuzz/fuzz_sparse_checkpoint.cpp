// Fuzz target: sparse checkpoints (nn::st::File::parse, then sparse::parse_sparse_checkpoint). An
// accepted file must hold only valid CSR tensors, expand to dense and back to the same pattern (when
// small enough to expand), and survive writing: the bytes written must parse back to the same sparse
// tensors.
#include <cstring>
#include <stdexcept>

#include "nn/check.hpp"
#include "nn/safetensors.hpp"
#include "sparse/checkpoint.hpp"
#include "targets.hpp"

namespace {

bool same_csr(const sparse::Csr& a, const sparse::Csr& b) {
    if (a.rows != b.rows || a.cols != b.cols || a.row_ptr != b.row_ptr || a.col_idx != b.col_idx) return false;
    if (a.values.numel() != b.values.numel()) return false;
    // Bitwise: NaN payloads and signed zeros must survive too.
    return a.values.numel() == 0 ||
           std::memcmp(a.values.data(), b.values.data(), size_t(a.values.numel()) * sizeof(float)) == 0;
}

}  // namespace

int fuzz::sparse_checkpoint(const uint8_t* data, size_t n) {
    sparse::SparseCheckpoint c;
    try {
        nn::st::File f = nn::st::File::parse(data, n, "<fuzz input>");
        c = sparse::parse_sparse_checkpoint(f, "<fuzz input>");
    } catch (const nn::Error&) {
        return 0;
    }
    for (const sparse::SparseTensor& s : c.sparse) {
        try {
            s.csr.validate("accepted sparse tensor");
        } catch (const nn::Error& e) {
            throw std::logic_error(std::string("sparse checkpoint: accepted an invalid CSR: ") + e.what());
        }
        if (s.csr.nnz() > s.csr.rows * s.csr.cols) throw std::logic_error("sparse checkpoint: more entries than cells");
        // Expanding allocates rows * cols floats: keep that bounded.
        if (s.csr.rows * s.csr.cols > (1 << 20)) continue;
        nn::Tensor dense = sparse::to_dense(s.csr);
        sparse::Csr again = sparse::from_dense(dense, sparse::pattern_mask(s.csr));
        if (again.row_ptr != s.csr.row_ptr || again.col_idx != s.csr.col_idx)
            throw std::logic_error("sparse checkpoint: dense round trip changed the pattern");
    }
    bool small = true;
    for (const sparse::SparseTensor& s : c.sparse) small = small && s.csr.rows * s.csr.cols <= (1 << 20);
    if (small) {
        c.memory();
        c.masks();
    }
    std::vector<uint8_t> bytes = sparse::to_file(c).serialize();
    sparse::SparseCheckpoint back =
        sparse::parse_sparse_checkpoint(nn::st::File::parse(bytes.data(), bytes.size(), "<re-written>"), "<re-written>");
    if (back.sparse.size() != c.sparse.size() || back.dense.entries().size() != c.dense.entries().size())
        throw std::logic_error("sparse checkpoint: re-written file has other tensors");
    for (const sparse::SparseTensor& s : c.sparse) {
        const sparse::SparseTensor* t = back.find(s.name);
        if (!t || t->shape != s.shape || !same_csr(t->csr, s.csr))
            throw std::logic_error("sparse checkpoint: re-written sparse tensor '" + s.name + "' differs");
    }
    return 0;
}

FUZZ_ENTRY(sparse_checkpoint)
