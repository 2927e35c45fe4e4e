// The registry table, the scalar references (the oracles: plain loops, one thread), the thread split
// of the SIMD variants and the dispatch of best(). The SIMD bodies are in kernels_simd.hpp.
#include "sparse/kernels.hpp"

#include <algorithm>
#include <cstring>

#include "nn/alloc.hpp"
#include "nn/check.hpp"
#include "nn/threads.hpp"
#include "sparse/kernels_isa.hpp"

namespace sparse::kernels {

const char* op_name(Op op) {
    switch (op) {
        case Op::spmv: return "spmv";
        case Op::spmm: return "spmm";
        case Op::spmmt: return "spmmt";
        case Op::sddmm: return "sddmm";
    }
    return "?";
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
    }
    return "?";
}

bool isa_available(Isa isa) {
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    switch (isa) {
        case Isa::scalar: return true;
        case Isa::avx2: return avx2;
        case Isa::avx512: return avx512;
    }
    return false;
}

CsrRef ref(const Csr& m) {
    return {m.rows, m.cols, m.row_ptr.data(), m.col_idx.data(), IndexWidth::i32, m.values.data()};
}

CsrRef ref(const Csr16& m) {
    return {m.rows, m.cols, m.row_ptr.data(), m.col_idx.data(), IndexWidth::u16, m.values.data()};
}

namespace {

template <class Index>
const Index* cols(const CsrRef& w) {
    return static_cast<const Index*>(w.col_idx);
}

// ---- scalar references ---------------------------------------------------------------------------

template <class Index>
void spmv_scalar(const Operands& p) {
    const Index* ci = cols<Index>(p.w);
    for (int64_t m = 0; m < p.w.rows; m++) {
        float s = 0.0f;
        for (int32_t j = p.w.row_ptr[m]; j < p.w.row_ptr[m + 1]; j++) s += p.w.values[j] * p.a[ci[j]];
        p.out[m] = (p.accumulate ? p.out[m] : 0.0f) + (p.bias ? p.bias[m] : 0.0f) + s;
    }
}

template <class Index>
void spmm_scalar(const Operands& p) {
    const Index* ci = cols<Index>(p.w);
    // Element (k, n) of X and (m, n) of Y in either layout.
    auto x = [&](int64_t k, int64_t n) { return p.batch_major ? p.a[n * p.lda + k] : p.a[k * p.lda + n]; };
    auto y = [&](int64_t m, int64_t n) -> float& { return p.batch_major ? p.out[n * p.ldo + m] : p.out[m * p.ldo + n]; };
    for (int64_t m = 0; m < p.w.rows; m++)
        for (int64_t n = 0; n < p.N; n++) {
            float s = 0.0f;
            for (int32_t j = p.w.row_ptr[m]; j < p.w.row_ptr[m + 1]; j++) s += p.w.values[j] * x(ci[j], n);
            y(m, n) = (p.accumulate ? y(m, n) : 0.0f) + (p.bias ? p.bias[m] : 0.0f) + s;
        }
}

template <class Index>
void spmmt_scalar(const Operands& p) {
    const Index* ci = cols<Index>(p.w);
    for (int64_t m = 0; m < p.w.rows; m++)
        for (int32_t j = p.w.row_ptr[m]; j < p.w.row_ptr[m + 1]; j++)
            for (int64_t n = 0; n < p.N; n++) p.out[int64_t(ci[j]) * p.ldo + n] += p.w.values[j] * p.a[m * p.lda + n];
}

template <class Index>
void sddmm_scalar(const Operands& p) {
    const Index* ci = cols<Index>(p.w);
    for (int64_t m = 0; m < p.w.rows; m++)
        for (int32_t j = p.w.row_ptr[m]; j < p.w.row_ptr[m + 1]; j++) {
            float s = 0.0f;
            for (int64_t n = 0; n < p.N; n++) s += p.a[m * p.lda + n] * p.b[int64_t(ci[j]) * p.ldb + n];
            p.out[j] += s;
        }
}

// stream_x_rows() on a CPU without AVX2: one column at a time.
template <class Index>
void stream_rows_scalar(const Operands& p) {
    const Index* ci = cols<Index>(p.w);
    for (int64_t n = 0; n < p.N; n++) {
        float s = 0.0f;
        for (int64_t j = 0; j < p.w.nnz(); j++) s += p.a[int64_t(ci[j]) * p.lda + n];
        p.out[n] = s;
    }
}

// ---- lockstep plans -------------------------------------------------------------------------------

template <class Index>
LockstepPlan build_lockstep_of(const CsrRef& w, int64_t slice) {
    LockstepPlan lp;
    lp.rows = w.rows, lp.cols = w.cols, lp.nnz = w.nnz();
    lp.slice = slice > 0 ? std::min(slice, kLockstepMaxSlice) : double(lp.nnz) >= 0.2 * double(w.rows * w.cols) ? 128 : 256;
    const Index* ci = cols<Index>(w);
    for (int64_t j = 0; j < lp.nnz; j++) lp.span = std::max(lp.span, int64_t(ci[j]) + 1);
    const int64_t n_slices = lp.slices(), n_blocks = lp.blocks();
    std::vector<int32_t> first(size_t(n_slices) + 1), next(first.size() - 1);  // counting sort by slice
    std::vector<int32_t> order, order_row;  // a block's entries grouped by slice, and each one's row in the block
    struct Segment {
        int32_t count, row, at;  // a row's entries in the slice: order[at .. at + count)
    };
    std::vector<Segment> seg;
    lp.chunk_entries.push_back(0);
    for (int64_t b = 0; b < n_blocks; b++) {
        const int64_t mb = b * kLockstepBlockRows, me = std::min(w.rows, mb + kLockstepBlockRows);
        // Counting sort by slice, rows in order within a slice (columns need not be sorted: as offsets
        // into one buffer they may not be).
        std::fill(first.begin(), first.end(), 0);
        for (int32_t j = w.row_ptr[mb]; j < w.row_ptr[me]; j++) first[size_t(int64_t(ci[j]) / lp.slice) + 1]++;
        for (int64_t s = 0; s < n_slices; s++) first[size_t(s) + 1] += first[size_t(s)];
        std::copy(first.begin(), first.end() - 1, next.begin());
        order.resize(size_t(w.row_ptr[me] - w.row_ptr[mb]));
        order_row.resize(order.size());
        for (int64_t m = mb; m < me; m++)
            for (int32_t j = w.row_ptr[m]; j < w.row_ptr[m + 1]; j++) {
                const int32_t at = next[size_t(int64_t(ci[j]) / lp.slice)]++;
                order[size_t(at)] = j, order_row[size_t(at)] = int32_t(m - mb);
            }
        for (int64_t s = 0; s < n_slices; s++) {
            lp.segments.push_back(int32_t(lp.chunk_rows.size() / 4));
            const int64_t k0 = s * lp.slice;
            seg.clear();
            for (int32_t at = first[size_t(s)], end; at < first[size_t(s) + 1]; at = end) {
                for (end = at + 1; end < first[size_t(s) + 1] && order_row[size_t(end)] == order_row[size_t(at)];) end++;
                seg.push_back({end - at, order_row[size_t(at)], at});
            }
            // Longest first (ties by row: the plan is deterministic), so a chunk's rows are alike.
            std::sort(seg.begin(), seg.end(), [](auto& x, auto& y) { return x.count != y.count ? x.count > y.count : x.row < y.row; });
            for (size_t g = 0; g < seg.size(); g += 4) {
                const int32_t len = seg[g].count;
                for (size_t r = 0; r < 4; r++)
                    lp.chunk_rows.push_back(g + r < seg.size() ? uint8_t(seg[g + r].row) : kLockstepNoRow);
                for (int32_t t = 0; t < len; t++)
                    for (size_t r = 0; r < 4; r++) {
                        // A missing row takes the first row's column; a short row repeats its last one.
                        const bool missing = g + r >= seg.size();
                        const Segment& sg = missing ? seg[g] : seg[g + r];
                        const int32_t j = order[size_t(sg.at + std::min(t, sg.count - 1))];
                        lp.offset.push_back(uint8_t(int64_t(ci[j]) - k0));
                        lp.val.push_back(!missing && t < sg.count ? w.values[j] : 0.0f);
                    }
                lp.chunk_entries.push_back(int32_t(lp.offset.size()));
            }
        }
    }
    lp.segments.push_back(int32_t(lp.chunk_rows.size() / 4));
    return lp;
}

// ---- thread split ---------------------------------------------------------------------------------

// Below this many multiply-adds a product stays on the calling thread (waking a worker costs more).
// Two threads pay from a few microseconds of work: lenet300 at 90 %, batch 1 (fc1's 23.5 k entries
// through chains4, ~7 us) ran 0.78-0.86x of dense on two threads with 32 k here, 1.18-1.19x with 8 k
// (bench --suite sparse --sparse-kernels false --e2e-models lenet300 --threads 2; 4 k: no better).
constexpr int64_t kMinParallelWork = 1 << 13;
// A row costs about this many entries' worth of work besides its entries (loading and storing its
// outputs), so that rows of a matrix with few entries still spread over the threads.
constexpr int64_t kRowCost = 2;

// First row m with cost(m) = row_ptr[m] + kRowCost * m >= target (rows if none).
int64_t row_at_cost(const CsrRef& w, int64_t target) {
    int64_t lo = 0, hi = w.rows;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (int64_t(w.row_ptr[mid]) + kRowCost * mid < target) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

// Scratch for every thread of one call, from the caching allocator (so a steady loop of calls
// touches no new pages); `floats` per thread, each 64-byte aligned.
class Scratch {
public:
    Scratch(int threads, int64_t floats)
        : per_thread_((floats + 15) / 16 * 16), bytes_(size_t(threads * per_thread_) * sizeof(float)) {
        if (per_thread_ > 0) base_ = static_cast<float*>(nn::alloc_bytes(bytes_));
    }
    ~Scratch() {
        if (base_) nn::alloc_free(base_, bytes_);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    float* thread(int t) const { return base_ ? base_ + t * per_thread_ : nullptr; }

private:
    int64_t per_thread_;
    size_t bytes_;
    float* base_ = nullptr;
};

// fn on num_threads() row ranges of about equal cost (entries plus kRowCost per row).
void for_balanced_rows(const Operands& p, isa::RangeFn fn) {
    const CsrRef& w = p.w;
    int T = nn::num_threads();
    int64_t total = w.nnz() + kRowCost * w.rows;
    if (T == 1 || w.rows < 2 || total * std::max<int64_t>(p.N, 1) < kMinParallelWork) {
        fn(p, 0, w.rows, nullptr);
        return;
    }
    nn::parallel_run([&](int t) {
        int64_t m0 = row_at_cost(w, total * t / T);
        int64_t m1 = t + 1 == T ? w.rows : row_at_cost(w, total * (t + 1) / T);
        if (m0 < m1) fn(p, m0, m1, nullptr);
    });
}

// spmm on num_threads() threads: whole batch tiles per thread when there are enough tiles (each
// thread then packs only its own tiles), otherwise row ranges of about equal cost over all columns,
// cut at multiples of `align` rows.
void spmm_split(const Operands& p, isa::SpmmFn fn, int64_t scratch_floats, int64_t tile, int64_t align = 1) {
    const CsrRef& w = p.w;
    int T = nn::num_threads();
    int64_t total = w.nnz() + kRowCost * w.rows;
    int64_t tiles = (p.N + tile - 1) / tile;
    if (T == 1 || total * p.N < kMinParallelWork || (tiles < T && w.rows < 2)) {
        Scratch s(1, scratch_floats);
        fn(p, 0, w.rows, 0, p.N, s.thread(0));
        return;
    }
    Scratch s(T, scratch_floats);
    if (tiles >= T) {
        nn::parallel_run([&](int t) {
            int64_t t0, t1;
            nn::chunk_range(tiles, T, t, t0, t1);
            int64_t n0 = t0 * tile, n1 = std::min(p.N, t1 * tile);
            if (n0 < n1) fn(p, 0, w.rows, n0, n1, s.thread(t));
        });
        return;
    }
    auto cut = [&](int t) {
        if (t == T) return w.rows;
        int64_t m = (row_at_cost(w, total * t / T) + align / 2) / align * align;
        return std::min(m, w.rows);
    };
    nn::parallel_run([&](int t) {
        int64_t m0 = cut(t), m1 = cut(t + 1);
        if (m0 < m1) fn(p, m0, m1, 0, p.N, s.thread(t));
    });
}

// fn on num_threads() ranges of batch columns, each a multiple of `lanes` wide (spmmt: rows of the
// output are shared by many rows of W, columns are not). Output rows that overlap (ldo < N: column
// indices that are offsets, the direct convolution) share memory across columns too: one thread.
void for_batch_columns(const Operands& p, int64_t lanes, isa::RangeFn fn) {
    int T = nn::num_threads();
    int64_t vectors = (p.N + lanes - 1) / lanes;
    if (T == 1 || vectors < 2 || p.ldo < p.N || p.w.nnz() * p.N < kMinParallelWork) {
        fn(p, 0, p.N, nullptr);
        return;
    }
    int n_chunks = int(std::min<int64_t>(T, vectors));
    nn::parallel_run([&](int t) {
        if (t >= n_chunks) return;
        int64_t v0, v1;
        nn::chunk_range(vectors, n_chunks, t, v0, v1);
        int64_t n0 = v0 * lanes, n1 = std::min(p.N, v1 * lanes);
        if (n0 < n1) fn(p, n0, n1, nullptr);
    });
}

const isa::Table& table(Isa isa) { return isa == Isa::avx512 ? isa::avx512_table() : isa::avx2_table(); }

template <Isa I, int IX>
void spmv_simd(const Operands& p) {
    for_balanced_rows(p, table(I).spmv[IX]);
}
template <Isa I, int IX>
void spmv_chains(const Operands& p) {
    for_balanced_rows(p, table(I).spmv_chains[IX]);
}
template <Isa I, int IX, int Tile>
void spmm_simd(const Operands& p) {
    const isa::Table& t = table(I);
    constexpr int64_t kTileVectors[] = {4, 2, 1, 4};
    spmm_split(p, t.spmm[IX][Tile], t.spmm_scratch[Tile](p), kTileVectors[Tile] * t.lanes);
}
// The lockstep variants: over p.lockstep when it was built from this matrix, else over a plan built
// here (tests and one-off calls; layers build theirs once). A batch without a whole lockstep tile
// (N <= 48 with AVX-512, <= 16 with AVX2) has nothing for the plan: it runs the ISA's nr kernel, with
// its thread split.
template <Isa I, int IX>
void spmm_lockstep(const Operands& p) {
    const isa::Table& t = table(I);
    if (p.N <= (t.lockstep_vectors - 1) * t.lanes) return spmm_simd<I, IX, 0>(p);
    Operands q = p;
    LockstepPlan own;
    if (!q.lockstep || !q.lockstep->matches(q.w)) {
        own = build_lockstep(q.w);
        q.lockstep = &own;
    }
    // Threads take whole blocks of rows, each over every batch tile, when every thread gets a full
    // block: on Zen 5 that ran 5-20 % faster than giving each thread its own batch tiles over all rows
    // (1024 and 4096 x 1024 at N = 256, 90-95 %, two threads), although each thread then packs every
    // tile. Fewer rows keep the tile split, which balances them.
    const int64_t tile = q.w.rows >= nn::num_threads() * kLockstepBlockRows ? q.N : t.lockstep_vectors * t.lanes;
    spmm_split(q, t.spmm_lockstep[IX], t.spmm_lockstep_scratch(q), tile, kLockstepBlockRows);
}
template <Isa I, int IX>
void spmmt_simd(const Operands& p) {
    for_batch_columns(p, table(I).lanes, table(I).spmmt[IX]);
}
template <Isa I, int IX>
void sddmm_simd(const Operands& p) {
    for_balanced_rows(p, table(I).sddmm[IX]);
}

constexpr int kI32 = 0, kU16 = 1;

std::vector<Kernel> build_registry() {
    std::vector<Kernel> r;
    // Scalar references first: reference() finds them by position-independent search.
    r.push_back({"spmv_csr32_scalar", Op::spmv, IndexWidth::i32, Isa::scalar,
                 "reference: one dot product per row, entries in order", spmv_scalar<int32_t>});
    r.push_back({"spmv_csr16_scalar", Op::spmv, IndexWidth::u16, Isa::scalar,
                 "reference: one dot product per row, entries in order", spmv_scalar<uint16_t>});
    r.push_back({"spmm_csr32_scalar", Op::spmm, IndexWidth::i32, Isa::scalar,
                 "reference: one dot product per output, entries in order", spmm_scalar<int32_t>});
    r.push_back({"spmm_csr16_scalar", Op::spmm, IndexWidth::u16, Isa::scalar,
                 "reference: one dot product per output, entries in order", spmm_scalar<uint16_t>});
    r.push_back({"spmmt_csr32_scalar", Op::spmmt, IndexWidth::i32, Isa::scalar,
                 "reference: scatter row by row, entries in order", spmmt_scalar<int32_t>});
    r.push_back({"spmmt_csr16_scalar", Op::spmmt, IndexWidth::u16, Isa::scalar,
                 "reference: scatter row by row, entries in order", spmmt_scalar<uint16_t>});
    r.push_back({"sddmm_csr32_scalar", Op::sddmm, IndexWidth::i32, Isa::scalar,
                 "reference: one dot product per entry along the batch", sddmm_scalar<int32_t>});
    r.push_back({"sddmm_csr16_scalar", Op::sddmm, IndexWidth::u16, Isa::scalar,
                 "reference: one dot product per entry along the batch", sddmm_scalar<uint16_t>});

#define SPARSE_ISA_VARIANTS(ISA, isa_text, NR4, NR2, NR1, G)                                                         \
    r.push_back({"spmv_csr32_" isa_text "_chains4", Op::spmv, IndexWidth::i32, ISA,                                \
                 "one scalar multiply-add per entry into four independent sums per row; best() for N = 1",         \
                 spmv_chains<ISA, kI32>});                                                                           \
    r.push_back({"spmv_csr16_" isa_text "_chains4", Op::spmv, IndexWidth::u16, ISA,                                \
                 "one scalar multiply-add per entry into four independent sums per row; best() for N = 1",         \
                 spmv_chains<ISA, kU16>});                                                                           \
    r.push_back({"spmv_csr32_" isa_text "_gather" #G, Op::spmv, IndexWidth::i32, ISA,                                \
                 #G "-lane vectors of a row's values times x gathered at their columns (for comparison: slower "    \
                 "than chains4 on the CPUs measured)",                                                                \
                 spmv_simd<ISA, kI32>});                                                                             \
    r.push_back({"spmv_csr16_" isa_text "_gather" #G, Op::spmv, IndexWidth::u16, ISA,                                \
                 #G "-lane vectors of a row's values times x gathered at their columns (for comparison: slower "    \
                 "than chains4 on the CPUs measured)",                                                                \
                 spmv_simd<ISA, kU16>});                                                                             \
    r.push_back({"spmm_csr32_" isa_text "_nr" #NR4, Op::spmm, IndexWidth::i32, ISA,                                  \
                 #NR4 " batch columns of a row in 4 vectors x 2 accumulator sets, narrower tiles for the rest "    \
                 "(down to 4-lane vectors over a zero-padded copy of X for the last few columns); "                \
                 "blocks of 64 rows go through column slices whose panel fills 32 KiB of L1 when rows hold "       \
                 "enough entries per slice (see kMinSliceEntries); best() for N > 1",                                \
                 spmm_simd<ISA, kI32, 0>});                                                                          \
    r.push_back({"spmm_csr16_" isa_text "_nr" #NR4, Op::spmm, IndexWidth::u16, ISA,                                  \
                 #NR4 " batch columns of a row in 4 vectors x 2 accumulator sets, narrower tiles for the rest "    \
                 "(down to 4-lane vectors over a zero-padded copy of X for the last few columns); "                \
                 "blocks of 64 rows go through column slices whose panel fills 32 KiB of L1 when rows hold "       \
                 "enough entries per slice (see kMinSliceEntries); best() for N > 1",                                \
                 spmm_simd<ISA, kU16, 0>});                                                                          \
    r.push_back({"spmm_csr32_" isa_text "_nr" #NR4 "_rows", Op::spmm, IndexWidth::i32, ISA,                          \
                 "as nr" #NR4 " but every row in one pass, never sliced (for comparison)",                          \
                 spmm_simd<ISA, kI32, 3>});                                                                          \
    r.push_back({"spmm_csr16_" isa_text "_nr" #NR4 "_rows", Op::spmm, IndexWidth::u16, ISA,                          \
                 "as nr" #NR4 " but every row in one pass, never sliced (for comparison)",                          \
                 spmm_simd<ISA, kU16, 3>});                                                                          \
    r.push_back({"spmm_csr32_" isa_text "_nr" #NR2, Op::spmm, IndexWidth::i32, ISA,                                  \
                 #NR2 " batch columns of a row in 2 vectors x 2 accumulator sets (for comparison)",                 \
                 spmm_simd<ISA, kI32, 1>});                                                                          \
    r.push_back({"spmm_csr16_" isa_text "_nr" #NR2, Op::spmm, IndexWidth::u16, ISA,                                  \
                 #NR2 " batch columns of a row in 2 vectors x 2 accumulator sets (for comparison)",                 \
                 spmm_simd<ISA, kU16, 1>});                                                                          \
    r.push_back({"spmm_csr32_" isa_text "_nr" #NR1, Op::spmm, IndexWidth::i32, ISA,                                  \
                 #NR1 " batch columns of a row in 1 vector x 4 accumulator sets: the plain SIMD loop (comparison)", \
                 spmm_simd<ISA, kI32, 2>});                                                                          \
    r.push_back({"spmm_csr16_" isa_text "_nr" #NR1, Op::spmm, IndexWidth::u16, ISA,                                  \
                 #NR1 " batch columns of a row in 1 vector x 4 accumulator sets: the plain SIMD loop (comparison)", \
                 spmm_simd<ISA, kU16, 2>});                                                                          \
    r.push_back({"spmmt_csr32_" isa_text "_nr" #NR4, Op::spmmt, IndexWidth::i32, ISA,                                \
                 "scatter: a row's " #NR4 " gradient columns in registers added into the rows of the output it "    \
                 "points to; threads split the batch columns; best() for any N",                                     \
                 spmmt_simd<ISA, kI32>});                                                                            \
    r.push_back({"spmmt_csr16_" isa_text "_nr" #NR4, Op::spmmt, IndexWidth::u16, ISA,                                \
                 "scatter: a row's " #NR4 " gradient columns in registers added into the rows of the output it "    \
                 "points to; threads split the batch columns; best() for any N",                                     \
                 spmmt_simd<ISA, kU16>});                                                                            \
    r.push_back({"sddmm_csr32_" isa_text "_dot", Op::sddmm, IndexWidth::i32, ISA,                                    \
                 "one vector dot product along the batch per entry; best() for any N", sddmm_simd<ISA, kI32>});     \
    r.push_back({"sddmm_csr16_" isa_text "_dot", Op::sddmm, IndexWidth::u16, ISA,                                    \
                 "one vector dot product along the batch per entry; best() for any N", sddmm_simd<ISA, kU16>});

    SPARSE_ISA_VARIANTS(Isa::avx2, "avx2", 32, 16, 8, 8)
    SPARSE_ISA_VARIANTS(Isa::avx512, "avx512", 64, 32, 16, 16)
#undef SPARSE_ISA_VARIANTS
    // Listed after the nr kernels, so best() keeps nr64 / nr32; run() takes the AVX-512 pair when the
    // operands carry a plan. The AVX2 pair is for comparison: on Zen 5 it ran 0-19 % behind nr32 at
    // 1024x1024, 70-95 % sparsity, N = 64 and 256 (with tiles of 16 columns, 7-27 % behind), where the
    // AVX-512 pair ran 17-42 % ahead of nr64; CPUs whose L2 feeds fewer bytes per cycle may differ.
    const char* lockstep_about =
        "four rows at once over W's lockstep plan, on tiles of 64 batch columns (16 accumulator vectors) with "
        "AVX-512, 24 (12 vectors) with AVX2: per block of 128 rows and column slice, chunks of four rows of "
        "similar length with interleaved, zero-padded entries (see LockstepPlan), columns as byte offsets "
        "within the slice, four per load; narrower tiles as the nr kernels. run() picks the AVX-512 one for "
        "spmm whose operands carry a plan, which compile() builds (with AVX-512) for Linear layers of 512 "
        "columns or more and density above 3.5 %; the AVX2 one (slower than nr32 on Zen 5) is for comparison";
    r.push_back({"spmm_csr32_avx2_nr24_lockstep", Op::spmm, IndexWidth::i32, Isa::avx2, lockstep_about,
                 spmm_lockstep<Isa::avx2, kI32>});
    r.push_back({"spmm_csr16_avx2_nr24_lockstep", Op::spmm, IndexWidth::u16, Isa::avx2, lockstep_about,
                 spmm_lockstep<Isa::avx2, kU16>});
    r.push_back({"spmm_csr32_avx512_nr64_lockstep", Op::spmm, IndexWidth::i32, Isa::avx512, lockstep_about,
                 spmm_lockstep<Isa::avx512, kI32>});
    r.push_back({"spmm_csr16_avx512_nr64_lockstep", Op::spmm, IndexWidth::u16, Isa::avx512, lockstep_about,
                 spmm_lockstep<Isa::avx512, kU16>});
    return r;
}

}  // namespace

const std::vector<Kernel>& registry() {
    static const std::vector<Kernel> r = build_registry();
    return r;
}

const Kernel* find(const char* name) {
    for (const Kernel& k : registry())
        if (std::strcmp(k.name, name) == 0) return &k;
    return nullptr;
}

const Kernel& reference(Op op, IndexWidth index) {
    for (const Kernel& k : registry())
        if (k.op == op && k.index == index && k.isa == Isa::scalar) return k;
    RAISE("no scalar reference for ", op_name(op));
}

const Kernel& best(Op op, IndexWidth index, int64_t N) {
    (void)N;  // every SIMD variant handles any N; the widest register tile wins for N > 1
    // SpMV takes scalar chains (chains4, listed first), which need no wide registers: the AVX2 file's.
    const Isa order_spmv[] = {Isa::avx2, Isa::avx512}, order[] = {Isa::avx512, Isa::avx2};
    for (Isa isa : op == Op::spmv ? order_spmv : order) {
        if (!isa_available(isa)) continue;
        for (const Kernel& k : registry())  // the first listed variant of an ISA is its widest tile
            if (k.op == op && k.index == index && k.isa == isa) return k;
    }
    return reference(op, index);
}

int64_t LockstepPlan::bytes() const {
    return int64_t(segments.size() * sizeof(int32_t) + chunk_entries.size() * sizeof(int32_t) + chunk_rows.size() +
                   offset.size() + val.size() * sizeof(float));
}

bool LockstepPlan::matches(const CsrRef& w) const { return rows == w.rows && cols == w.cols && nnz == w.nnz(); }

LockstepPlan build_lockstep(const CsrRef& w, int64_t slice) {
    return w.index == IndexWidth::i32 ? build_lockstep_of<int32_t>(w, slice) : build_lockstep_of<uint16_t>(w, slice);
}

bool lockstep_pays(const CsrRef& w) {
    return w.cols >= 512 && w.rows > 0 && double(w.nnz()) > 0.035 * double(w.rows * w.cols);
}

const Kernel* lockstep_variant(IndexWidth index) {
    static const Kernel* lockstep[2] = {find("spmm_csr32_avx512_nr64_lockstep"), find("spmm_csr16_avx512_nr64_lockstep")};
    return isa_available(Isa::avx512) ? lockstep[index == IndexWidth::i32 ? 0 : 1] : nullptr;
}

void run(Op op, const Operands& p) {
    if (op == Op::spmm && p.lockstep)
        if (const Kernel* k = lockstep_variant(p.w.index)) return k->run(p);
    best(op, p.w.index, p.N).run(p);
}

int64_t widest_tile() {
    for (Isa isa : {Isa::avx512, Isa::avx2})
        if (isa_available(isa)) return 4 * table(isa).lanes;
    return 0;
}

void stream_x_rows(const Operands& p) {
    const int ix = p.w.index == IndexWidth::i32 ? 0 : 1;
    for (Isa isa : {Isa::avx512, Isa::avx2})
        if (isa_available(isa)) return table(isa).stream_rows[ix](p, 0, p.N, nullptr);
    ix == 0 ? stream_rows_scalar<int32_t>(p) : stream_rows_scalar<uint16_t>(p);
}

void transpose(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t R, int64_t C) {
    if (R == 0 || C == 0) return;
    auto block = isa_available(Isa::avx2) ? table(Isa::avx2).transpose : nullptr;
    auto body = [&](int64_t c0, int64_t c1) {
        if (block) {
            block(dst + c0 * ldd, ldd, src + c0, lds, R, c1 - c0);
        } else {
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = 0; r < R; r++) dst[c * ldd + r] = src[r * lds + c];
        }
    };
    // Chunks of whole 64-column strips, and only when the block is worth a wake-up.
    int64_t strips = (C + 63) / 64;
    if (R * C < kMinParallelWork || strips < 2) return body(0, C);
    nn::parallel_for(strips, 1, [&](int64_t s0, int64_t s1) { body(s0 * 64, std::min(C, s1 * 64)); });
}

}  // namespace sparse::kernels
