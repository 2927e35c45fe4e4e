// The sparse kernel registry: every product with a CSR matrix W [M, K] that sparse layers run, in
// every variant we compile, each beside its scalar reference. Tests and `bench --suite sparse` walk
// registry() — a new variant is tested and measured by being listed. Variants are named
// <op>_<index>_<isa>_<shape>:
//   op     spmv (batch 1), spmm (W times a dense matrix), spmmt (W^T times a dense matrix),
//          sddmm (a dense product sampled at W's pattern)
//   index  csr32 (int32 column indices) or csr16 (uint16)
//   isa    scalar (the reference: the plain loop, single-threaded), avx2 (8 lanes) or avx512 (16 lanes)
//   shape  nrX: X output columns (batch elements) per row held in registers; gather: SpMV through
//          vector gathers of x
// Dense operands are row-major with the batch dimension N contiguous: X [K, N] is the transpose of our
// Linear's activations [B, IN]. SIMD lanes run along N, so a stored weight is broadcast once and
// multiplied with whole vectors of X. spmm also takes our layout directly (Operands::batch_major) and
// then transposes tiles of X and Y in cache; that is how SparseLinear calls it.
// Raw pointers and sizes, no allocation, no autograd; backward kernels ADD into their outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "sparse/csr.hpp"

namespace sparse::kernels {

enum class Op { spmv, spmm, spmmt, sddmm };
enum class Isa { scalar, avx2, avx512 };
enum class IndexWidth { i32, u16 };

const char* op_name(Op op);
const char* isa_name(Isa isa);
// Whether this CPU runs the instruction set (checked once with cpuid).
bool isa_available(Isa isa);

// A non-owning view of a CSR matrix; col_idx points at int32 or uint16 indices according to `index`.
struct CsrRef {
    int64_t rows = 0, cols = 0;
    const int32_t* row_ptr = nullptr;
    const void* col_idx = nullptr;
    IndexWidth index = IndexWidth::i32;
    const float* values = nullptr;

    int64_t nnz() const { return rows ? row_ptr[rows] : 0; }
};
CsrRef ref(const Csr& m);
CsrRef ref(const Csr16& m);

// W's entries regrouped for the lockstep spmm variants (spmm_*_lockstep). For each block
// of kLockstepBlockRows rows and each slice of `slice` columns: the block's rows that have entries in
// the slice, sorted by how many, in chunks of four rows whose entries are stored interleaved (entry t
// of the four rows side by side) and padded with zero values to the chunk's longest row. One loop
// then runs four rows at once on sixteen accumulator registers while the slice of X stays in L1: one
// loop exit per four row segments instead of one per segment, sixteen independent multiply-add chains.
// An entry's column is stored as one byte, its offset within the slice (slices are at most 256 columns
// wide), so the four entries of a step come with one 32-bit load: an entry costs four loads of X, a
// quarter of an index load (int32 columns cost a whole one) and its value, which AVX-512 takes from
// one 4-value load per step and a shuffle per entry instead of a broadcast load each. The loop is
// bound by loads (two per cycle on Zen 5): byte offsets made it 3-15 % faster at 90-95 % sparsity,
// values by shuffle 3-6 % at 1024x1024, N = 64 and 256.
// Built once (build_lockstep) from a CSR matrix, whose values it copies: a snapshot, as compile()
// takes. Measured on Zen 5 (bench --suite sparse, N = 64 and 256) it beats the row loop by 10-60 % from
// 50 % to 90 % sparsity where W has 512 columns or more (several slices), by 5-15 % at 95 %, and loses
// from 97 % (a row then has too few entries per slice); with 256 columns (one or two slices: the rows'
// sums are reloaded for nothing) it loses by up to 15 %; hence lockstep_pays(). Blocks of 128 rows use
// each row of X loaded into L1 twice as often as 64 and pad less (1-6 % faster than 64 in a prototype
// timed interleaved; 250 no better).
constexpr int64_t kLockstepBlockRows = 128;
constexpr int64_t kLockstepMaxSlice = 256;  // a column's offset within its slice fits a byte
constexpr uint8_t kLockstepNoRow = 0xFF;    // a padding row of a chunk: its sums go to scratch
static_assert(kLockstepBlockRows <= kLockstepNoRow, "a row within its block fits chunk_rows below the padding mark");

struct LockstepPlan {
    int64_t rows = 0, cols = 0, nnz = 0;  // of the matrix it was built from
    int64_t slice = 0;                    // columns per slice (at most kLockstepMaxSlice)
    int64_t span = 0;                     // columns the slices cover: 1 + the largest column index, which
                                          // may lie past cols (indices used as offsets into one buffer)
    std::vector<int32_t> segments;        // [blocks * slices + 1]: first chunk of (block, slice), block-major
    std::vector<int32_t> chunk_entries;   // [chunks + 1]: first entry of each chunk (multiples of 4)
    std::vector<uint8_t> chunk_rows;      // [chunks * 4]: rows within the block, or kLockstepNoRow
    std::vector<uint8_t> offset;          // [entries]: column of W minus its slice's first column
                                          // (padding repeats its row's last column)
    std::vector<float> val;               // [entries]: value (0 for padding)

    int64_t slices() const { return slice > 0 ? (span + slice - 1) / slice : 0; }
    int64_t blocks() const { return (rows + kLockstepBlockRows - 1) / kLockstepBlockRows; }
    int64_t bytes() const;
    bool matches(const CsrRef& w) const;  // built from a matrix of w's shape and entry count
};

// The plan of w (values copied); `slice` 0 picks the slice width by density (128 columns from 20 %
// density, else 256: rows need about 20 entries per slice to pay for reloading their sums), and wider
// ones are cut to kLockstepMaxSlice.
LockstepPlan build_lockstep(const CsrRef& w, int64_t slice = 0);
// Whether the lockstep variants beat the row loop for w: 512 columns or more, density above 3.5 %.
bool lockstep_pays(const CsrRef& w);

// The operands of one product with W = w [M, K]. Which fields an op reads:
//   spmv:  y[M]     (=|+=) bias + W x[K]                       out = y, a = x
//   spmm:  Y[M, N]  (=|+=) bias + W X[K, N]                    out = Y (ldo), a = X (lda)
//          or, with batch_major, Y^T [N, M] from X^T [N, K]: our Linear's y = x W^T + b on
//          activations [B, IN] -> [B, OUT]; the kernel transposes tiles of X and Y in cache
//   spmmt: D[K, N]  +=     W^T G[M, N]                          out = D (ldo), a = G (lda)
//   sddmm: dv[nnz]  +=     (G[M, N] X[K, N]^T) at W's pattern   out = dv, a = G (lda), b = X (ldb)
// i.e. sddmm gives dv[j] += sum_n G[m, n] X[col[j], n] for each entry j of row m (the weight gradient
// of a sparse layer). bias[M] may be null; with `accumulate` spmv/spmm add into out (bias included),
// otherwise they overwrite it. spmmt and sddmm always accumulate. The operand indexed by W's columns
// may also be given with a row stride of 1 and column indices that are element offsets (row k at
// base + col[k], rows overlapping): spmm's X (lda = 1, not batch-major), spmmt's D (ldo = 1; then
// run on one thread) and sddmm's X (ldb = 1). The direct sparse convolution (sparse/ops.cpp) runs on
// a padded image so.
struct Operands {
    CsrRef w;
    int64_t N = 1;
    const float* a = nullptr;
    int64_t lda = 0;
    const float* b = nullptr;
    int64_t ldb = 0;
    float* out = nullptr;
    int64_t ldo = 0;
    const float* bias = nullptr;
    bool accumulate = false;
    bool batch_major = false;  // spmm only: X [N, K] (row n at a + n * lda), Y [N, M] (row n at out + n * ldo)
    // spmm only: W's lockstep plan, for the lockstep variants (which build one per call without it, or
    // when it was built from a matrix of another shape) and for run(), which takes a lockstep variant
    // when it is set. Whole tiles read the plan's copy of the values, narrower ones w's: the plan must
    // have been built from w as it is (rebuild it after the values change).
    const LockstepPlan* lockstep = nullptr;
};

struct Kernel {
    const char* name;
    Op op;
    IndexWidth index;
    Isa isa;
    const char* about;  // what the variant does and when best() picks it
    void (*run)(const Operands&);
};

// Every variant compiled into this binary (including ones this CPU cannot run: check isa_available).
const std::vector<Kernel>& registry();
const Kernel* find(const char* name);  // null when unknown
// The scalar reference of an op and index width (the oracle the tests compare against).
const Kernel& reference(Op op, IndexWidth index);
// The variant sparse layers run on this CPU for a batch of N (see the `about` of each variant).
const Kernel& best(Op op, IndexWidth index, int64_t N);
// The lockstep variant run() takes for spmm whose operands carry a plan: AVX-512's, or null on CPUs
// without it (the AVX2 one is for comparison, see its `about`). compile() builds plans only where
// there is one.
const Kernel* lockstep_variant(IndexWidth index);

// Runs the best variant (validates nothing: callers pass consistent operands); spmm with a lockstep
// plan runs lockstep_variant() where this CPU has one.
void run(Op op, const Operands& p);

// Batch columns of the widest spmm register tile on this CPU: four vectors, 64 columns with AVX-512,
// 32 with AVX2 (0 without either).
int64_t widest_tile();

// The memory bound of a row-by-row product (bench's `bound` column): out[n] = the sum, over W's
// entries, of X[col, n] for n < N (X [K, N] with row stride lda; W's values are not read). It loads,
// for every stored weight, the row of X that weight multiplies, four vectors at a time as the widest
// nr tile does, and computes nothing else, so no kernel that fetches X's row anew for each entry (the
// nr kernels where they do not slice) can run faster. Kernels that keep a slice of X in L1 while
// several rows use it (the lockstep plan, the sliced nr tiles) can. One thread, the widest ISA here.
void stream_x_rows(const Operands& p);

// dst[c, r] = src[r, c] for an [R, C] block; leading dimensions lds >= C, ldd >= R. Blocked and
// SIMD, threaded over columns for large blocks; used to move activations between [B, F] and [F, B].
void transpose(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t R, int64_t C);

}  // namespace sparse::kernels
