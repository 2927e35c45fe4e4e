// Internal to sparse/: the SIMD kernel templates, instantiated once per instruction set by
// kernels_avx2.cpp and kernels_avx512.cpp (each defines Arch, HalfArch, QuarterArch and load_indices before
// including this file). Lanes run along the batch dimension N; a stored weight is broadcast and
// multiplied with whole vectors of the dense operand. Everything has internal linkage except the
// table the including file exports, so the two instruction sets never meet in one function.
// Scalar tails here are the same loops as the references in kernels.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <xsimd/xsimd.hpp>

#include "sparse/kernels_isa.hpp"

namespace sparse::kernels::isa {
namespace {

using V = xsimd::batch<float, Arch>;
using VI = xsimd::batch<int32_t, Arch>;
using H = xsimd::batch<float, HalfArch>;     // half-width vectors for the last columns
using Q = xsimd::batch<float, QuarterArch>;  // 4-lane vectors for narrow batches (H again with AVX2)
constexpr int64_t L = int64_t(V::size);
constexpr int64_t LH = int64_t(H::size);
constexpr int64_t LQ = int64_t(Q::size);

// a * b + c in one rounding. xsimd 8 gives SSE vectors FMA only without AVX (fma3<sse4_2>), so the
// 4-lane ones (both files are compiled with FMA) call it directly.
template <class B>
B madd(B a, B b, B c) {
    return xsimd::fma(a, b, c);
}
inline xsimd::batch<float, xsimd::sse4_2> madd(xsimd::batch<float, xsimd::sse4_2> a,
                                               xsimd::batch<float, xsimd::sse4_2> b,
                                               xsimd::batch<float, xsimd::sse4_2> c) {
    return _mm_fmadd_ps(a, b, c);
}

template <class Index>
const Index* col_ptr(const CsrRef& w) {
    return static_cast<const Index*>(w.col_idx);
}

// ---- 8x8 transposes (AVX registers; used by both instruction sets) -------------------------------
// The eight rows of an 8x8 block transposed in registers: out[i] = column i of the block.
inline void transpose8x8_regs(__m256 (&r)[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// dst[c * ldd + r] (=|+=) src[r * lds + c] for an 8x8 block.
inline void transpose8x8(float* dst, int64_t ldd, const float* src, int64_t lds, bool add = false) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    transpose8x8_regs(r);
    for (int i = 0; i < 8; i++)
        _mm256_storeu_ps(dst + i * ldd, add ? _mm256_add_ps(_mm256_loadu_ps(dst + i * ldd), r[i]) : r[i]);
}

// dst[c * ldd + r] (=|+=) src[r * lds + c] for r < R, c < C: 8x8 blocks, scalar edges.
inline void transpose_add(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t R, int64_t C, bool add) {
    int64_t r = 0;
    for (; r + 8 <= R; r += 8) {
        int64_t c = 0;
        for (; c + 8 <= C; c += 8) transpose8x8(dst + c * ldd + r, ldd, src + r * lds + c, lds, add);
        for (; c < C; c++)
            for (int64_t i = 0; i < 8; i++) {
                float& d = dst[c * ldd + r + i];
                d = (add ? d : 0.0f) + src[(r + i) * lds + c];
            }
    }
    for (; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            float& d = dst[c * ldd + r];
            d = (add ? d : 0.0f) + src[r * lds + c];
        }
}

// ---- spmm: Y (=|+=) bias + W X ----------------------------------------------------------------------
// The multiply-adds of one row of W over `R` vectors of batch columns, added into acc: entries from j
// up to e, or (Bounded) up to the first one whose column is >= kend. X points at the tile's first
// column in a [K, *] layout with row stride ldx. Entries go round-robin into independent accumulator
// sets, since the multiply-adds of one set form a dependency chain: two sets with R >= 2 registers,
// four with one register (two left such a tile bound by the multiply-add latency: nr16 at 1024x1024,
// 90 %, N = 64 went 3.89x -> 5.02x of dense). Returns the first entry not taken.
template <bool Bounded, class B, int R, class Index>
inline int32_t spmm_entries(B (&acc)[R], int32_t j, const int32_t e, const int64_t kend, const Index* ci,
                            const float* val, const float* X, int64_t ldx) {
    constexpr int64_t W = int64_t(B::size);
    auto before_end = [&](int32_t i) { return !Bounded || int64_t(ci[i]) < kend; };
    auto add_entry = [&](B (&a)[R], int32_t i) {
        B v(val[i]);
        const float* x = X + int64_t(ci[i]) * ldx;
        for (int r = 0; r < R; r++) a[r] = madd(v, B::load_unaligned(x + r * W), a[r]);
    };
    // Columns are sorted: when a step's last entry lies before kend, all of them do.
    if constexpr (R == 1) {
        B acc1[1] = {B(0.0f)}, acc2[1] = {B(0.0f)}, acc3[1] = {B(0.0f)};
        for (; j + 4 <= e && before_end(j + 3); j += 4) {
            add_entry(acc, j);
            add_entry(acc1, j + 1);
            add_entry(acc2, j + 2);
            add_entry(acc3, j + 3);
        }
        for (; j < e && before_end(j); j++) add_entry(acc, j);
        acc[0] = acc[0] + acc1[0] + (acc2[0] + acc3[0]);
    } else {
        B acc1[R];
        for (int r = 0; r < R; r++) acc1[r] = B(0.0f);
        for (; j + 2 <= e && before_end(j + 1); j += 2) {
            add_entry(acc, j);
            add_entry(acc1, j + 1);
        }
        if (j < e && before_end(j)) add_entry(acc, j++);
        for (int r = 0; r < R; r++) acc[r] = acc[r] + acc1[r];
    }
    return j;
}

// Column slices. A row's entries point at scattered rows of X's panel (K rows of one tile's columns),
// so a panel larger than L1 streams from L2 once per stored weight: 256 bytes at 64 columns, which is
// where the time of a plain row-by-row product goes. Slicing K so that one slice of the panel fills
// kSliceBytes, and taking a block of kBlockRows rows of W through each slice before the next, keeps
// the slice in L1 for the whole block; the rows' partial sums wait in Y between slices. Each row then
// reloads and stores its accumulators once per slice, which pays only when a row has enough entries
// in a slice: at least kMinSliceEntries on average. Measured on Zen 5 (bench --suite sparse, nr64
// against nr64_rows, one thread): AVX-512 tiles (256-byte panel rows, slices of 128 columns) at
// 1024x1024, N = 64 went 0.70x -> 1.11x of dense at 50 % sparsity, 0.94x -> 1.34x at 60 %,
// 2.10x -> 2.39x at 80 % (26 entries per slice); at 85-90 % (13-19 entries) slicing won 5 % at
// 1024 rows but lost up to 28 % at 2048 and 4096 rows, hence 24. AVX2 tiles (128-byte rows, slices
// of 256 columns) stream half the bytes per multiply-add and gained there only from ~100 entries
// per slice (0.50x -> 0.67x at 50 %, 1.13x -> 1.10x at 70 %, 3.45x -> 3.16x at 90 %); an AVX2-only
// CPU, whose L2 delivers half of Zen 5's bytes per cycle, was not measured.
constexpr int64_t kSliceBytes = 32 * 1024;
constexpr int64_t kBlockRows = 64;
constexpr int64_t kMinSliceEntries = L >= 16 ? 24 : 96;

// Columns of W per slice for a tile of `tile` floats per panel row read with row stride ldx, or 0 to
// run rows whole: the panel fits a slice, the rows are too short, or the panel's rows overlap
// (ldx < tile: column indices are offsets, the direct convolution).
inline int64_t slice_columns(const Operands& p, int64_t tile, int64_t ldx) {
    const int64_t cols = kSliceBytes / (tile * int64_t(sizeof(float)));
    if (ldx < tile || p.w.cols <= cols) return 0;
    if (p.w.nnz() * cols < kMinSliceEntries * p.w.rows * p.w.cols) return 0;
    return cols;
}

// Rows [mb, me) of W (at most kBlockRows) over one tile of R vectors of batch columns into dst (row m
// at dst + (m - mb) * ldd): dst = bias + (add ? dst : 0) + W X, each row in one pass or, when slice > 0,
// the block of rows through one slice of `slice` columns after another.
template <class B, int R, class Index>
void spmm_block(const Operands& p, int64_t mb, int64_t me, const float* X, int64_t ldx, int64_t slice, float* dst,
                int64_t ldd, bool add) {
    constexpr int64_t W = int64_t(B::size);
    const Index* ci = col_ptr<Index>(p.w);
    const int32_t* rp = p.w.row_ptr;
    const float* val = p.w.values;
    // Bias, and dst when adding, enter with the first slice.
    auto start = [&](B (&acc)[R], int64_t m, const float* y) {
        for (int r = 0; r < R; r++) {
            acc[r] = p.bias ? B(p.bias[m]) : B(0.0f);
            if (add) acc[r] = acc[r] + B::load_unaligned(y + r * W);
        }
    };
    if (slice == 0) {
        for (int64_t m = mb; m < me; m++) {
            float* y = dst + (m - mb) * ldd;
            B acc[R];
            start(acc, m, y);
            spmm_entries<false, B, R, Index>(acc, rp[m], rp[m + 1], 0, ci, val, X, ldx);
            for (int r = 0; r < R; r++) acc[r].store_unaligned(y + r * W);
        }
        return;
    }
    int32_t next[kBlockRows];  // each row's first entry not yet taken
    for (int64_t m = mb; m < me; m++) next[m - mb] = rp[m];
    for (int64_t k0 = 0; k0 < p.w.cols; k0 += slice) {
        const int64_t kend = k0 + slice;
        for (int64_t m = mb; m < me; m++) {
            int32_t& j = next[m - mb];
            // A later slice without entries in this row leaves the row's partial sums where they are.
            if (k0 > 0 && (j == rp[m + 1] || int64_t(ci[j]) >= kend)) continue;
            float* y = dst + (m - mb) * ldd;
            B acc[R];
            if (k0 == 0) start(acc, m, y);
            else
                for (int r = 0; r < R; r++) acc[r] = B::load_unaligned(y + r * W);
            j = spmm_entries<true, B, R, Index>(acc, j, rp[m + 1], kend, ci, val, X, ldx);
            for (int r = 0; r < R; r++) acc[r].store_unaligned(y + r * W);
        }
    }
}

// Feature-major (X [K, N], Y [M, N]): one tile of rows [m0, m1) and batch columns
// [n0, n0 + R * lanes of B); X points at the tile's first column (possibly a packed copy). With
// SliceK, in column slices where slice_columns() says they pay.
template <class B, int R, class Index, bool SliceK>
void spmm_tile(const Operands& p, int64_t m0, int64_t m1, int64_t n0, const float* X, int64_t ldx) {
    const int64_t slice = SliceK ? slice_columns(p, R * int64_t(B::size), ldx) : 0;
    for (int64_t mb = m0; mb < m1; mb += kBlockRows)
        spmm_block<B, R, Index>(p, mb, std::min(m1, mb + kBlockRows), X, ldx, slice, p.out + mb * p.ldo + n0, p.ldo,
                                p.accumulate);
}

// Columns [n0, n1) one at a time (feature-major with overlapping rows of X, where a narrow tile
// cannot copy its panel).
template <class Index>
void spmm_scalar_columns(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const Index* ci = col_ptr<Index>(p.w);
    for (int64_t m = m0; m < m1; m++)
        for (int64_t n = n0; n < n1; n++) {
            float s = 0.0f;
            for (int32_t j = p.w.row_ptr[m]; j < p.w.row_ptr[m + 1]; j++)
                s += p.w.values[j] * p.a[int64_t(ci[j]) * p.lda + n];
            float& y = p.out[m * p.ldo + n];
            y = (p.accumulate ? y : 0.0f) + (p.bias ? p.bias[m] : 0.0f) + s;
        }
}

// Narrow tiles: `width` <= L batch columns from n0 (a small batch, or the last columns of a larger
// one), either layout. They are copied into a zero-padded panel [K, P] of the narrowest vectors that
// hold them (P = 4, 8 or 16 lanes) and run one row at a time into a block [kBlockRows, P], whose first
// `width` columns go to Y. A 16-lane tile would multiply mostly zeros (2 columns used 1/8 of each
// multiply-add) and column-by-column scalar loops re-read W per column: at 1024x1024, 90 % sparse,
// N = 2 that ran 3x slower than one SpMV. The panel copies K * width floats once per call.
inline bool narrow_tiles_apply(const Operands& p) { return p.batch_major || p.lda >= p.N; }

template <class B, class Index>
void spmm_narrow_tile(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t width, float* panel,
                      float* block) {
    constexpr int64_t PW = int64_t(B::size);
    const int64_t K = p.w.cols;
    // Loops over all PW lanes with the width as a condition: loops of `width` iterations became a
    // memcpy and a memset call per row of the panel, which cost as much as the product at 90 %.
    if (p.batch_major) {
        const float* x = p.a + n0 * p.lda;
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < PW; i++) panel[k * PW + i] = i < width ? x[i * p.lda + k] : 0.0f;
    } else {
        const float* x = p.a + n0;
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < PW; i++) panel[k * PW + i] = i < width ? x[k * p.lda + i] : 0.0f;
    }
    for (int64_t mb = m0; mb < m1; mb += kBlockRows) {
        const int64_t me = std::min(m1, mb + kBlockRows);
        spmm_block<B, 1, Index>(p, mb, me, panel, PW, 0, block, PW, false);
        if (p.batch_major) {
            transpose_add(p.out + n0 * p.ldo + mb, p.ldo, block, PW, me - mb, width, p.accumulate);
            continue;
        }
        for (int64_t m = mb; m < me; m++) {
            float* y = p.out + m * p.ldo + n0;
            const float* b = block + (m - mb) * PW;
            for (int64_t i = 0; i < PW; i++)
                if (i < width) y[i] = (p.accumulate ? y[i] : 0.0f) + b[i];
        }
    }
}

template <class Index>
void spmm_narrow(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t width, float* panel, float* block) {
    if (width <= LQ) spmm_narrow_tile<Q, Index>(p, m0, m1, n0, width, panel, block);
    else if (width <= LH) spmm_narrow_tile<H, Index>(p, m0, m1, n0, width, panel, block);
    else spmm_narrow_tile<V, Index>(p, m0, m1, n0, width, panel, block);
}
// Scratch floats of one narrow tile: its panel and block.
inline int64_t narrow_scratch(const Operands& p) { return (p.w.cols + kBlockRows) * L; }

// Whether the widest feature-major tiles read X from a packed copy: when X's rows are longer than one
// tile, a tile's column panel is strided (a 1 KiB stride at N = 256 maps every row to the same few L1
// sets), so each panel is first copied into contiguous, aligned scratch [K, 4 * lanes]. The copy costs
// K vectors per tile and pays only when each row of the panel is used often: at least kPackReuse
// entries per column on average (measured: +17 % at 1024x1024, 90 %, N = 256; without the condition
// a 64x288 conv-shaped layer at 98 % ran 3x slower, the copy costing more than the product).
constexpr int64_t kPackReuse = 32;
inline bool packs_feature_major(const Operands& p) {
    return p.lda > 4 * L && p.N >= 8 * L && p.w.nnz() >= kPackReuse * p.w.cols;
}

// Feature-major, rows [m0, m1), batch columns [n0, n1): tiles of MaxR registers first, then narrower
// ones, then a narrow tile for the last columns (or, without scratch or when X's rows overlap, a
// half-width tile and scalar columns). Tiles are the outer loop so that one column panel of X stays
// in cache while every row of the range uses it. Measured at 300x784, 90 %, N = 12: the narrow tile
// (16 lanes, padded) ran 1.4x faster than an 8-lane tile on X's 12-float rows and a 4-lane one.
template <class Index, int MaxR, bool SliceK>
void spmm_feature_major(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* work) {
    int64_t n = n0;
    if constexpr (MaxR >= 4) {
        if (work && packs_feature_major(p))
            for (; n + 4 * L <= n1; n += 4 * L) {
                for (int64_t k = 0; k < p.w.cols; k++)
                    for (int r = 0; r < 4; r++)
                        V::load_unaligned(p.a + k * p.lda + n + r * L).store_aligned(work + k * 4 * L + r * L);
                spmm_tile<V, 4, Index, SliceK>(p, m0, m1, n, work, 4 * L);
            }
        for (; n + 4 * L <= n1; n += 4 * L) spmm_tile<V, 4, Index, SliceK>(p, m0, m1, n, p.a + n, p.lda);
    }
    if constexpr (MaxR >= 2)
        for (; n + 2 * L <= n1; n += 2 * L) spmm_tile<V, 2, Index, SliceK>(p, m0, m1, n, p.a + n, p.lda);
    for (; n + L <= n1; n += L) spmm_tile<V, 1, Index, SliceK>(p, m0, m1, n, p.a + n, p.lda);
    if (n == n1) return;
    if (work && narrow_tiles_apply(p)) return spmm_narrow<Index>(p, m0, m1, n, n1 - n, work, work + p.w.cols * L);
    if (n + LH <= n1) {
        spmm_tile<H, 1, Index, SliceK>(p, m0, m1, n, p.a + n, p.lda);
        n += LH;
    }
    if (n < n1) spmm_scalar_columns<Index>(p, m0, m1, n, n1);
}

// Batch-major (X [N, K], Y [N, M]: our Linear's layout), one tile of `width` <= R * lanes batch
// columns from n0: the tile of X is transposed into a zero-padded panel [K, R * lanes] (contiguous,
// aligned vectors for the multiply-adds), and the results of every kBlockRows rows are transposed back
// into Y from a [kBlockRows, R * lanes] block. Both transposes touch only cache-resident data.
template <int R, class Index, bool SliceK>
void spmm_batch_major_tile(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t width, float* panel,
                           float* block) {
    constexpr int64_t PW = R * L;
    const int64_t K = p.w.cols;
    transpose_add(panel, PW, p.a + n0 * p.lda, p.lda, width, K, false);
    if (width < PW)
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = width; i < PW; i++) panel[k * PW + i] = 0.0f;
    const int64_t slice = SliceK ? slice_columns(p, PW, PW) : 0;
    for (int64_t mb = m0; mb < m1; mb += kBlockRows) {
        const int64_t me = std::min(m1, mb + kBlockRows);
        spmm_block<V, R, Index>(p, mb, me, panel, PW, slice, block, PW, false);
        transpose_add(p.out + n0 * p.ldo + mb, p.ldo, block, PW, me - mb, width, p.accumulate);
    }
}

template <class Index, int MaxR, bool SliceK>
void spmm_batch_major(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* work) {
    constexpr int64_t TW = MaxR * L;
    float* panel = work;
    float* block = work + p.w.cols * TW;
    for (int64_t n = n0; n < n1; n += TW) {
        int64_t width = n1 - n < TW ? n1 - n : TW;
        if (width <= LH) {
            spmm_narrow<Index>(p, m0, m1, n, width, panel, block);
            continue;
        }
        switch ((width + L - 1) / L) {
            case 1: spmm_batch_major_tile<1, Index, SliceK>(p, m0, m1, n, width, panel, block); break;
            case 2:
                if constexpr (MaxR >= 2) spmm_batch_major_tile<2, Index, SliceK>(p, m0, m1, n, width, panel, block);
                break;
            case 3:
                if constexpr (MaxR >= 3) spmm_batch_major_tile<3, Index, SliceK>(p, m0, m1, n, width, panel, block);
                break;
            default:
                if constexpr (MaxR >= 4) spmm_batch_major_tile<4, Index, SliceK>(p, m0, m1, n, width, panel, block);
                break;
        }
    }
}

// Whether feature-major columns end in a narrow tile (fewer than L left after the vector tiles).
inline bool feature_major_narrow_tail(const Operands& p) { return narrow_tiles_apply(p) && p.N % L != 0; }

// Scratch floats one thread of spmm needs (64-byte aligned): the packed panel and, batch-major, the
// transposition block; feature-major, the narrow tile's panel and block when there is one.
template <int MaxR>
int64_t spmm_scratch(const Operands& p) {
    if (p.batch_major) return (p.w.cols + kBlockRows) * MaxR * L;
    const int64_t pack = MaxR >= 4 && packs_feature_major(p) ? p.w.cols * 4 * L : 0;
    return std::max(pack, feature_major_narrow_tail(p) ? narrow_scratch(p) : 0);
}

template <class Index, int MaxR, bool SliceK>
void spmm_range(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* work) {
    if (p.batch_major) spmm_batch_major<Index, MaxR, SliceK>(p, m0, m1, n0, n1, work);
    else spmm_feature_major<Index, MaxR, SliceK>(p, m0, m1, n0, n1, work);
}

// ---- spmm over a lockstep plan (see LockstepPlan in kernels.hpp) ---------------------------------------
// Four rows at once, each over a tile of kLockQ vectors of batch columns: sixteen accumulators with
// AVX-512 (32 registers), twelve with AVX2 (16 registers: the broadcast value and a loaded vector of X
// beside them).
constexpr int kLockQ = L >= 16 ? 4 : 3;
constexpr int64_t kLockTile = kLockQ * L;  // batch columns of one lockstep tile

// Every chunk of block b, slice after slice, over one tile of kLockQ vectors of batch columns: X is the
// tile's panel (row k at X + k * ldx), dst the block's first row (row i at dst + i * ldd), already
// holding each row's start (bias, and what it adds to); padding rows of a chunk go to `spare`.
template <class B>
void lockstep_block(const LockstepPlan& lp, int64_t b, const float* X, int64_t ldx, float* dst, int64_t ldd,
                           float* spare) {
    constexpr int Q = kLockQ;
    const int64_t n_slices = lp.slices();
    const uint8_t* offset = lp.offset.data();
    const float* val = lp.val.data();
    for (int64_t s = 0; s < n_slices; s++) {
        const float* Xs = X + s * lp.slice * ldx;
        const int32_t c0 = lp.segments[size_t(b * n_slices + s)], c1 = lp.segments[size_t(b * n_slices + s + 1)];
        for (int32_t c = c0; c < c1; c++) {
            float* y[4];
            for (int r = 0; r < 4; r++) {
                const uint8_t row = lp.chunk_rows[size_t(c) * 4 + size_t(r)];
                y[r] = row == kLockstepNoRow ? spare : dst + int64_t(row) * ldd;
            }
            B acc[4][Q];
            for (int r = 0; r < 4; r++)
                for (int q = 0; q < Q; q++) acc[r][q] = B::load_unaligned(y[r] + q * L);
            for (int32_t e = lp.chunk_entries[size_t(c)]; e < lp.chunk_entries[size_t(c) + 1]; e += 4) {
                uint32_t four;  // the step's four offsets in one load, entry r in byte r (x86: little-endian)
                std::memcpy(&four, offset + e, sizeof four);
                [[maybe_unused]] __m512 vals;
                if constexpr (B::size == 16) vals = _mm512_castps128_ps512(_mm_loadu_ps(val + e));
                for (int r = 0; r < 4; r++) {
                    B v;
                    if constexpr (B::size == 16) v = _mm512_permutexvar_ps(_mm512_set1_epi32(r), vals);
                    else v = B(val[e + r]);
                    const float* x = Xs + int64_t((four >> (8 * r)) & 0xFF) * ldx;
                    for (int q = 0; q < Q; q++) acc[r][q] = xsimd::fma(v, B::load_unaligned(x + q * L), acc[r][q]);
                }
            }
            for (int r = 3; r >= 0; r--)
                for (int q = 0; q < Q; q++) acc[r][q].store_unaligned(y[r] + q * L);
        }
    }
}

// Whether a strided feature-major panel is first copied into contiguous scratch: a lockstep slice of
// rows 1 KiB apart (N = 256) would sit in a quarter of L1's sets. Pays from ~8 uses per panel row.
inline bool lockstep_packs(const Operands& p) { return !p.batch_major && p.lda > kLockTile && p.w.nnz() >= 8 * p.w.cols; }

// Scratch: a spare row of one tile, then the packed panel or a narrow tile's (feature-major), or a
// panel and block buffer (a lockstep block, or the nr or narrow tiles' block for a narrower last tile).
inline int64_t spmm_lockstep_scratch(const Operands& p) {
    if (p.batch_major) return kLockTile + (p.w.cols + std::max(kBlockRows, kLockstepBlockRows)) * kLockTile;
    const int64_t pack = lockstep_packs(p) ? p.w.cols * kLockTile : 0;
    return kLockTile + std::max(pack, feature_major_narrow_tail(p) ? narrow_scratch(p) : 0);
}

// Rows [m0, m1) (lockstep block boundaries, or the last row), batch columns [n0, n1): full tiles of
// kLockQ vectors through the plan p.lockstep, narrower ones through the nr tiles.
template <class Index>
void spmm_lockstep_range(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* work) {
    constexpr int64_t PW = kLockTile;
    const LockstepPlan& lp = *p.lockstep;
    float* spare = work;
    float* rest = work + PW;
    const int64_t b0 = m0 / kLockstepBlockRows, b1 = (m1 + kLockstepBlockRows - 1) / kLockstepBlockRows;
    const int64_t K = p.w.cols;
    // Rows [mb, me) of one tile at dst start at bias (plus dst itself when adding).
    auto start = [&](float* dst, int64_t ldd, int64_t mb, int64_t me, bool add) {
        for (int64_t m = mb; m < me; m++) {
            float* y = dst + (m - mb) * ldd;
            const V s = p.bias ? V(p.bias[m]) : V(0.0f);
            for (int q = 0; q < kLockQ; q++) (add ? V::load_unaligned(y + q * L) + s : s).store_unaligned(y + q * L);
        }
    };
    if (!p.batch_major) {
        int64_t n = n0;
        for (; n + PW <= n1; n += PW) {
            const float* X = p.a + n;
            int64_t ldx = p.lda;
            if (lockstep_packs(p)) {
                for (int64_t k = 0; k < K; k++)
                    for (int q = 0; q < kLockQ; q++)
                        V::load_unaligned(p.a + k * p.lda + n + q * L).store_aligned(rest + k * PW + q * L);
                X = rest, ldx = PW;
            }
            for (int64_t b = b0; b < b1; b++) {
                const int64_t mb = b * kLockstepBlockRows, me = std::min(m1, mb + kLockstepBlockRows);
                float* dst = p.out + mb * p.ldo + n;
                start(dst, p.ldo, mb, me, p.accumulate);
                lockstep_block<V>(lp, b, X, ldx, dst, p.ldo, spare);
            }
        }
        if (n < n1) spmm_feature_major<Index, 2, true>(p, m0, m1, n, n1, rest);
        return;
    }
    float* panel = rest;
    float* block = rest + K * PW;
    for (int64_t n = n0; n < n1; n += PW) {
        const int64_t width = std::min(PW, n1 - n);
        if (width <= LH) {  // a narrow last tile
            spmm_narrow<Index>(p, m0, m1, n, width, panel, panel + K * L);
            continue;
        }
        if (width <= (kLockQ - 1) * L) {  // a narrower last tile: the nr tiles
            switch ((width + L - 1) / L) {
                case 1: spmm_batch_major_tile<1, Index, true>(p, m0, m1, n, width, panel, block); break;
                case 2: spmm_batch_major_tile<2, Index, true>(p, m0, m1, n, width, panel, block); break;
                default: spmm_batch_major_tile<3, Index, true>(p, m0, m1, n, width, panel, block); break;
            }
            continue;
        }
        transpose_add(panel, PW, p.a + n * p.lda, p.lda, width, K, false);
        if (width < PW)
            for (int64_t k = 0; k < K; k++)
                for (int64_t i = width; i < PW; i++) panel[k * PW + i] = 0.0f;
        for (int64_t b = b0; b < b1; b++) {
            const int64_t mb = b * kLockstepBlockRows, me = std::min(m1, mb + kLockstepBlockRows);
            start(block, PW, mb, me, false);
            lockstep_block<V>(lp, b, panel, PW, block, PW, spare);
            transpose_add(p.out + n * p.ldo + mb, p.ldo, block, PW, me - mb, width, p.accumulate);
        }
    }
}

// ---- spmv: y[M] (=|+=) bias + W x[K] -------------------------------------------------------------
// Rows [m0, m1): y[m] (=|+=) bias[m] + dot(j, e), the sum over the row's entries [j, e).
template <class Dot>
void spmv_each_row(const Operands& p, int64_t m0, int64_t m1, Dot dot) {
    for (int64_t m = m0; m < m1; m++) {
        const float s = dot(p.w.row_ptr[m], p.w.row_ptr[m + 1]);
        float& y = p.out[m];
        y = (p.accumulate ? y : 0.0f) + (p.bias ? p.bias[m] : 0.0f) + s;
    }
}

// Scalar multiply-adds, four independent sums per row (entry j into sum j % 4): one multiply-add
// costs an index, a value and an x load, with no gather. On Zen 5 this ran 1.1-1.5x faster than the
// gathers below at every shape and sparsity measured (bench --suite sparse, N = 1: 1024x1024,
// 300x784 and 4096x1024 at 50-98 %).
template <class Index>
void spmv_chains(const Operands& p, int64_t m0, int64_t m1, float*) {
    const Index* ci = col_ptr<Index>(p.w);
    const float* val = p.w.values;
    const float* x = p.a;
    spmv_each_row(p, m0, m1, [&](int32_t j, const int32_t e) {
        __m128 s0 = _mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;  // in lane 0; intrinsics keep the
        for (; j + 4 <= e; j += 4) {                               // compiler from gathering them
            s0 = _mm_fmadd_ss(_mm_load_ss(val + j), _mm_load_ss(x + ci[j]), s0);
            s1 = _mm_fmadd_ss(_mm_load_ss(val + j + 1), _mm_load_ss(x + ci[j + 1]), s1);
            s2 = _mm_fmadd_ss(_mm_load_ss(val + j + 2), _mm_load_ss(x + ci[j + 2]), s2);
            s3 = _mm_fmadd_ss(_mm_load_ss(val + j + 3), _mm_load_ss(x + ci[j + 3]), s3);
        }
        for (; j < e; j++) s0 = _mm_fmadd_ss(_mm_load_ss(val + j), _mm_load_ss(x + ci[j]), s0);
        return _mm_cvtss_f32(_mm_add_ss(_mm_add_ss(s0, s1), _mm_add_ss(s2, s3)));
    });
}

// Lanes run along a row's entries: values are loaded as vectors and x is gathered at their columns;
// two accumulators per row, the last entries scalar.
template <class Index>
void spmv_rows(const Operands& p, int64_t m0, int64_t m1, float*) {
    const Index* ci = col_ptr<Index>(p.w);
    const float* val = p.w.values;
    const float* x = p.a;
    spmv_each_row(p, m0, m1, [&](int32_t j, const int32_t e) {
        float s = 0.0f;
        if (e - j >= L) {
            V acc0(0.0f), acc1(0.0f);
            for (; j + 2 * L <= e; j += 2 * L) {
                acc0 = xsimd::fma(V::load_unaligned(val + j), V::gather(x, load_indices(ci + j)), acc0);
                acc1 = xsimd::fma(V::load_unaligned(val + j + L), V::gather(x, load_indices(ci + j + L)), acc1);
            }
            for (; j + L <= e; j += L)
                acc0 = xsimd::fma(V::load_unaligned(val + j), V::gather(x, load_indices(ci + j)), acc0);
            s = xsimd::hadd(acc0 + acc1);
        }
        for (; j < e; j++) s += val[j] * x[ci[j]];
        return s;
    });
}

// ---- spmmt: D[K, N] += W^T G[M, N] ---------------------------------------------------------------
// Scatter: row m's gradient tile stays in registers and is added into the rows of D its entries
// point to. Different rows of W hit the same row of D, so threads split the batch columns, never
// the rows.
template <class B, int R, class Index>
void spmmt_tile(const Operands& p, int64_t n0) {
    constexpr int64_t W = int64_t(B::size);
    const int32_t* rp = p.w.row_ptr;
    const Index* ci = col_ptr<Index>(p.w);
    const float* val = p.w.values;
    for (int64_t m = 0; m < p.w.rows; m++) {
        if (rp[m] == rp[m + 1]) continue;
        B g[R];
        for (int r = 0; r < R; r++) g[r] = B::load_unaligned(p.a + m * p.lda + n0 + r * W);
        for (int32_t j = rp[m]; j < rp[m + 1]; j++) {
            B v(val[j]);
            float* d = p.out + int64_t(ci[j]) * p.ldo + n0;
            for (int r = 0; r < R; r++) xsimd::fma(v, g[r], B::load_unaligned(d + r * W)).store_unaligned(d + r * W);
        }
    }
}

template <class Index>
void spmmt_cols(const Operands& p, int64_t n0, int64_t n1, float*) {
    int64_t n = n0;
    for (; n + 4 * L <= n1; n += 4 * L) spmmt_tile<V, 4, Index>(p, n);
    for (; n + L <= n1; n += L) spmmt_tile<V, 1, Index>(p, n);
    if (n + LH <= n1) {
        spmmt_tile<H, 1, Index>(p, n);
        n += LH;
    }
    if (n == n1) return;
    const Index* ci = col_ptr<Index>(p.w);
    for (int64_t m = 0; m < p.w.rows; m++)
        for (int32_t j = p.w.row_ptr[m]; j < p.w.row_ptr[m + 1]; j++)
            for (int64_t c = n; c < n1; c++)
                p.out[int64_t(ci[j]) * p.ldo + c] += p.w.values[j] * p.a[m * p.lda + c];
}

// ---- sddmm: dv[j] += sum_n G[m, n] X[col[j], n] --------------------------------------------------
// One dot product along the batch per entry: two vector accumulators, reduced once per entry.
template <class Index>
void sddmm_rows(const Operands& p, int64_t m0, int64_t m1, float*) {
    const Index* ci = col_ptr<Index>(p.w);
    const int64_t N = p.N;
    for (int64_t m = m0; m < m1; m++) {
        const float* g = p.a + m * p.lda;
        for (int32_t j = p.w.row_ptr[m]; j < p.w.row_ptr[m + 1]; j++) {
            const float* x = p.b + int64_t(ci[j]) * p.ldb;
            V acc0(0.0f), acc1(0.0f);
            int64_t n = 0;
            for (; n + 2 * L <= N; n += 2 * L) {
                acc0 = xsimd::fma(V::load_unaligned(g + n), V::load_unaligned(x + n), acc0);
                acc1 = xsimd::fma(V::load_unaligned(g + n + L), V::load_unaligned(x + n + L), acc1);
            }
            if (n + L <= N) {
                acc0 = xsimd::fma(V::load_unaligned(g + n), V::load_unaligned(x + n), acc0);
                n += L;
            }
            float s = xsimd::hadd(acc0 + acc1);
            for (; n < N; n++) s += g[n] * x[n];
            p.out[j] += s;
        }
    }
}

// ---- stream_rows: out[n] = sum over W's entries j of X[col[j], n] ------------------------------------
// The loads of the nr kernels' row loop without their arithmetic: for every entry, the row of X it
// multiplies, in tiles of four vectors (then one, then scalar columns), summed by vector adds into two
// accumulator sets so that the adds never wait on each other. Batch columns [n0, n1).
template <class Index>
void stream_rows(const Operands& p, int64_t n0, int64_t n1, float*) {
    const Index* ci = col_ptr<Index>(p.w);
    const int64_t nnz = p.w.nnz();
    auto tile = [&]<int R>(int64_t n) {
        V a[R], b[R];
        for (int r = 0; r < R; r++) a[r] = b[r] = V(0.0f);
        int64_t j = 0;
        for (; j + 2 <= nnz; j += 2) {
            const float* x = p.a + int64_t(ci[j]) * p.lda + n;
            const float* y = p.a + int64_t(ci[j + 1]) * p.lda + n;
            for (int r = 0; r < R; r++) a[r] = a[r] + V::load_unaligned(x + r * L);
            for (int r = 0; r < R; r++) b[r] = b[r] + V::load_unaligned(y + r * L);
        }
        if (j < nnz)
            for (int r = 0; r < R; r++) a[r] = a[r] + V::load_unaligned(p.a + int64_t(ci[j]) * p.lda + n + r * L);
        for (int r = 0; r < R; r++) (a[r] + b[r]).store_unaligned(p.out + n + r * L);
    };
    int64_t n = n0;
    for (; n + 4 * L <= n1; n += 4 * L) tile.template operator()<4>(n);
    for (; n + L <= n1; n += L) tile.template operator()<1>(n);
    for (; n < n1; n++) {
        float s = 0.0f;
        for (int64_t j = 0; j < nnz; j++) s += p.a[int64_t(ci[j]) * p.lda + n];
        p.out[n] = s;
    }
}

// ---- transpose: dst[c, r] = src[r, c] ------------------------------------------------------------
// In 64-column strips of the source, so that the strip being read stays in L1 while its transposed
// rows are written.
void transpose_block(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t R, int64_t C) {
    constexpr int64_t kStrip = 64;
    for (int64_t cs = 0; cs < C; cs += kStrip)
        transpose_add(dst + cs * ldd, ldd, src + cs, lds, R, C - cs < kStrip ? C - cs : kStrip, false);
}

const Table kTable = {
    L,
    {spmv_rows<int32_t>, spmv_rows<uint16_t>},
    {spmv_chains<int32_t>, spmv_chains<uint16_t>},
    {{spmm_range<int32_t, 4, true>, spmm_range<int32_t, 2, true>, spmm_range<int32_t, 1, true>,
      spmm_range<int32_t, 4, false>},
     {spmm_range<uint16_t, 4, true>, spmm_range<uint16_t, 2, true>, spmm_range<uint16_t, 1, true>,
      spmm_range<uint16_t, 4, false>}},
    {spmm_scratch<4>, spmm_scratch<2>, spmm_scratch<1>, spmm_scratch<4>},
    kLockQ,
    {spmm_lockstep_range<int32_t>, spmm_lockstep_range<uint16_t>},
    spmm_lockstep_scratch,
    {spmmt_cols<int32_t>, spmmt_cols<uint16_t>},
    {sddmm_rows<int32_t>, sddmm_rows<uint16_t>},
    {stream_rows<int32_t>, stream_rows<uint16_t>},
    transpose_block,
};

}  // namespace
}  // namespace sparse::kernels::isa
