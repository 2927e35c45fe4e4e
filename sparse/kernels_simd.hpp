// Internal to sparse/: the SIMD kernel templates, instantiated once per instruction set by
// kernels_avx2.cpp and kernels_avx512.cpp (each defines Arch, HalfArch and load_indices before
// including this file). Lanes run along the batch dimension N; a stored weight is broadcast and
// multiplied with whole vectors of the dense operand. Everything has internal linkage except the
// table the including file exports, so the two instruction sets never meet in one function.
// Scalar tails here are the same loops as the references in kernels.cpp.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "sparse/kernels_isa.hpp"

namespace sparse::kernels::isa {
namespace {

using V = xsimd::batch<float, Arch>;
using VI = xsimd::batch<int32_t, Arch>;
using H = xsimd::batch<float, HalfArch>;  // half-width vectors for the last columns
constexpr int64_t L = int64_t(V::size);
constexpr int64_t LH = int64_t(H::size);

template <class Index>
const Index* col_ptr(const CsrRef& w) {
    return static_cast<const Index*>(w.col_idx);
}

// ---- spmm: Y[M, N] (=|+=) bias + W X[K, N] -------------------------------------------------------
// One tile: rows [m0, m1), batch columns [n0, n0 + R * lanes of B). The row's accumulators stay in
// 2R registers: entries are taken two at a time into two sets (even and odd entries), which halves
// the dependency chain of the multiply-adds; the sets are added at the end of the row.
// X points at the tile's first column of X (row stride ldx), which may be a packed copy.
template <class B, int R, class Index>
void spmm_tile(const Operands& p, int64_t m0, int64_t m1, int64_t n0, const float* X, int64_t ldx) {
    constexpr int64_t W = int64_t(B::size);
    const int32_t* rp = p.w.row_ptr;
    const Index* ci = col_ptr<Index>(p.w);
    const float* val = p.w.values;
    for (int64_t m = m0; m < m1; m++) {
        float* y = p.out + m * p.ldo + n0;
        B init = p.bias ? B(p.bias[m]) : B(0.0f);
        B acc0[R], acc1[R];
        for (int r = 0; r < R; r++) {
            acc0[r] = p.accumulate ? B::load_unaligned(y + r * W) + init : init;
            acc1[r] = B(0.0f);
        }
        int32_t j = rp[m];
        const int32_t e = rp[m + 1];
        for (; j + 2 <= e; j += 2) {
            B v0(val[j]), v1(val[j + 1]);
            const float* x0 = X + int64_t(ci[j]) * ldx;
            const float* x1 = X + int64_t(ci[j + 1]) * ldx;
            for (int r = 0; r < R; r++) acc0[r] = xsimd::fma(v0, B::load_unaligned(x0 + r * W), acc0[r]);
            for (int r = 0; r < R; r++) acc1[r] = xsimd::fma(v1, B::load_unaligned(x1 + r * W), acc1[r]);
        }
        if (j < e) {
            B v0(val[j]);
            const float* x0 = X + int64_t(ci[j]) * ldx;
            for (int r = 0; r < R; r++) acc0[r] = xsimd::fma(v0, B::load_unaligned(x0 + r * W), acc0[r]);
        }
        for (int r = 0; r < R; r++) (acc0[r] + acc1[r]).store_unaligned(y + r * W);
    }
}

// Columns [n0, n1) one at a time (fewer than half a vector remain).
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

// Whether the widest tiles read X from a packed copy: when X's rows are longer than one tile, a
// tile's column panel is strided (a 1 KiB stride at N = 256 maps every row to the same few L1 sets),
// so each panel is first copied into contiguous, aligned scratch [K, 4 * lanes].
inline bool packs(const Operands& p) { return p.lda > 4 * L && p.N >= 8 * L; }
int64_t pack_floats(const Operands& p) { return packs(p) ? p.w.cols * 4 * L : 0; }

inline void pack_panel(float* dst, const Operands& p, int64_t n0) {
    for (int64_t k = 0; k < p.w.cols; k++)
        for (int r = 0; r < 4; r++) V::load_unaligned(p.a + k * p.lda + n0 + r * L).store_aligned(dst + k * 4 * L + r * L);
}

// Rows [m0, m1), all N columns: tiles of MaxR registers first, then narrower ones, then half-width
// vectors, then scalar columns. Tiles are the outer loop so that one column panel of X stays in
// cache while every row of the range uses it.
template <class Index, int MaxR>
void spmm_rows(const Operands& p, int64_t m0, int64_t m1, float* work) {
    int64_t n = 0;
    if constexpr (MaxR >= 4) {
        if (work && packs(p))
            for (; n + 4 * L <= p.N; n += 4 * L) {
                pack_panel(work, p, n);
                spmm_tile<V, 4, Index>(p, m0, m1, n, work, 4 * L);
            }
        for (; n + 4 * L <= p.N; n += 4 * L) spmm_tile<V, 4, Index>(p, m0, m1, n, p.a + n, p.lda);
    }
    if constexpr (MaxR >= 2)
        for (; n + 2 * L <= p.N; n += 2 * L) spmm_tile<V, 2, Index>(p, m0, m1, n, p.a + n, p.lda);
    for (; n + L <= p.N; n += L) spmm_tile<V, 1, Index>(p, m0, m1, n, p.a + n, p.lda);
    if (n + LH <= p.N) {
        spmm_tile<H, 1, Index>(p, m0, m1, n, p.a + n, p.lda);
        n += LH;
    }
    if (n < p.N) spmm_scalar_columns<Index>(p, m0, m1, n, p.N);
}

// ---- spmv: y[M] (=|+=) bias + W x[K] -------------------------------------------------------------
// Lanes run along a row's entries: values are loaded as vectors and x is gathered at their columns;
// two accumulators per row, the last entries scalar.
template <class Index>
void spmv_rows(const Operands& p, int64_t m0, int64_t m1, float*) {
    const int32_t* rp = p.w.row_ptr;
    const Index* ci = col_ptr<Index>(p.w);
    const float* val = p.w.values;
    const float* x = p.a;
    for (int64_t m = m0; m < m1; m++) {
        int32_t j = rp[m];
        const int32_t e = rp[m + 1];
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
        float& y = p.out[m];
        y = (p.accumulate ? y : 0.0f) + (p.bias ? p.bias[m] : 0.0f) + s;
    }
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

// ---- transpose: dst[c, r] = src[r, c] ------------------------------------------------------------
// 8x8 blocks through AVX registers (unpack, shuffle, permute), scalar edges.
inline void transpose8x8(float* dst, int64_t ldd, const float* src, int64_t lds) {
    __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

// Source columns [c0, c1) of all R rows, in 64-column strips so that the strip being read stays in
// L1 while its transposed rows are written.
void transpose_block(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t R, int64_t C) {
    constexpr int64_t kStrip = 64;
    for (int64_t cs = 0; cs < C; cs += kStrip) {
        int64_t ce = cs + kStrip < C ? cs + kStrip : C;
        int64_t r = 0;
        for (; r + 8 <= R; r += 8) {
            int64_t c = cs;
            for (; c + 8 <= ce; c += 8) transpose8x8(dst + c * ldd + r, ldd, src + r * lds + c, lds);
            for (; c < ce; c++)
                for (int64_t i = 0; i < 8; i++) dst[c * ldd + r + i] = src[(r + i) * lds + c];
        }
        for (; r < R; r++)
            for (int64_t c = cs; c < ce; c++) dst[c * ldd + r] = src[r * lds + c];
    }
}

template <class Index>
void spmm_rows4(const Operands& p, int64_t m0, int64_t m1, float* work) { spmm_rows<Index, 4>(p, m0, m1, work); }
template <class Index>
void spmm_rows2(const Operands& p, int64_t m0, int64_t m1, float* work) { spmm_rows<Index, 2>(p, m0, m1, work); }
template <class Index>
void spmm_rows1(const Operands& p, int64_t m0, int64_t m1, float* work) { spmm_rows<Index, 1>(p, m0, m1, work); }

const Table kTable = {
    L,
    {spmv_rows<int32_t>, spmv_rows<uint16_t>},
    {{spmm_rows4<int32_t>, spmm_rows2<int32_t>, spmm_rows1<int32_t>},
     {spmm_rows4<uint16_t>, spmm_rows2<uint16_t>, spmm_rows1<uint16_t>}},
    {spmmt_cols<int32_t>, spmmt_cols<uint16_t>},
    {sddmm_rows<int32_t>, sddmm_rows<uint16_t>},
    pack_floats,
    transpose_block,
};

}  // namespace
}  // namespace sparse::kernels::isa
