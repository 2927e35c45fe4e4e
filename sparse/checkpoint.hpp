// Sparse checkpoints: safetensors files in which pruned tensors are stored as CSR. A sparse tensor
// <name> (e.g. "fc1.weight", or a conv weight viewed as [out, in*kh*kw]) is three entries named after
// torch's CSR attributes, so torch.sparse_csr_tensor(crow, col, values, size) rebuilds it:
//   <name>.crow_indices  I32 [rows + 1]   row pointers
//   <name>.col_indices   I32 or U16 [nnz] column indices (U16 when the columns fit)
//   <name>.values        F32 [nnz]
// and the metadata entry "sparse.<name>" = its dense shape ("300,784"; "64,32,3,3"). "format" =
// "secateurs-sparse-1" marks the file. Every other entry is an ordinary tensor, copied as it is.
// Reading validates each CSR (the file is untrusted input) and names the file and the tensor on any
// error.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nn/module.hpp"
#include "nn/safetensors.hpp"
#include "sparse/csr.hpp"
#include "sparse/modules.hpp"

namespace sparse {

namespace st = nn::st;

constexpr const char* kSparseFormat = "secateurs-sparse-1";

struct SparseTensor {
    std::string name;
    std::vector<int64_t> shape;  // the dense shape; rows = shape[0], cols = product of the rest
    Csr csr;
    bool compact = false;  // written with 16-bit column indices
};

struct SparseCheckpoint {
    st::File dense;  // metadata and every entry that is not part of a sparse tensor
    std::vector<SparseTensor> sparse;

    const SparseTensor* find(const std::string& name) const;
    // Every tensor dense, by name (sparse ones expanded to their shape); integer entries converted.
    std::map<std::string, nn::Tensor> state_dict() const;
    // The 0/1 pattern of each sparse tensor in its dense shape, by name (masks for compile()).
    std::map<std::string, nn::Tensor> masks() const;
    // Memory of every tensor (sparse ones with their stored entries as nnz).
    std::vector<TensorMemory> memory() const;
};

bool is_sparse_checkpoint(const st::File& f);
SparseCheckpoint read_sparse_checkpoint(const std::string& path);
// Splits a parsed file into its sparse tensors (validated) and the rest; `what` names it in errors.
SparseCheckpoint parse_sparse_checkpoint(const st::File& f, const std::string& what);
st::File to_file(const SparseCheckpoint& c);
void write_sparse_checkpoint(const std::string& path, const SparseCheckpoint& c);

// What `secateurs sparsify` does to one file. A float tensor of rank >= 2 becomes CSR when its mask
// "<name>_mask" is in the file (the pattern is the mask; PyTorch's "<name>_orig" + "<name>_mask"
// pair becomes "<name>") or when it has zeros — in both cases only if that stores fewer bytes (a
// mask is then dropped: the pattern is the mask). Everything else is copied.
struct SparsifyOptions {
    IndexChoice index = IndexChoice::automatic;
};
struct SparsifyDecision {
    std::string name;
    nn::Shape shape;
    int64_t nnz = 0;
    bool from_mask = false, sparse = false;
    int64_t bytes_before = 0, bytes_after = 0;
    std::string reason;
};
SparseCheckpoint sparsify(const st::File& in, const std::string& what, const SparsifyOptions& options = {},
                          std::vector<SparsifyDecision>* report = nullptr);
// The reverse: every sparse tensor expanded back to a dense entry (a checkpoint any loader reads).
st::File densify(const SparseCheckpoint& c);

// Loads a sparse checkpoint into a model (sparse tensors expanded, shapes checked, every tensor of the
// model required) and compiles it with the file's patterns as masks; returns compile()'s decisions.
std::vector<LayerDecision> load_sparse_model(const SparseCheckpoint& c, nn::Module& model, const std::string& source,
                                             CompileOptions options = {});

}  // namespace sparse
