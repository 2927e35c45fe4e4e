// 2-D convolution: im2col + gemm kernels (forward and backward side by side) and the differentiable
// conv2d op. A 1x1 stride-1 convolution skips im2col (the image is its own column matrix). 3x3
// stride-1 convolutions with enough channels run by Winograd F(2x2, 3x3) instead (forward and input
// gradient). The ReLU that follows most convolutions can be fused in: it is applied while the output
// is still in cache, and its backward masks dy image by image inside the convolution's backward.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <xsimd/xsimd.hpp>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

ConvGeometry conv_geometry(int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW,
                           int64_t stride, int64_t pad) {
    ENSURE(B >= 0 && C > 0 && H > 0 && W > 0 && OC > 0 && KH > 0 && KW > 0, "conv2d: bad sizes: input [", B, ", ",
           C, ", ", H, ", ", W, "], weight [", OC, ", ", C, ", ", KH, ", ", KW, "]");
    ENSURE(stride > 0 && pad >= 0, "conv2d: stride must be positive and padding non-negative, got stride ", stride,
           ", padding ", pad);
    ENSURE(H + 2 * pad >= KH && W + 2 * pad >= KW, "conv2d: kernel ", KH, "x", KW, " is larger than the padded input ",
           H + 2 * pad, "x", W + 2 * pad);
    ConvGeometry g;
    g.B = B, g.C = C, g.H = H, g.W = W, g.OC = OC, g.KH = KH, g.KW = KW, g.stride = stride, g.pad = pad;
    g.OH = (H + 2 * pad - KH) / stride + 1;
    g.OW = (W + 2 * pad - KW) / stride + 1;
    return g;
}

namespace {

// The output columns [lo, hi) whose input column ow*stride - pad + kw lies inside [0, W).
inline void valid_range(int64_t k, int64_t stride, int64_t pad, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
    // ow*stride >= pad - k  and  ow*stride <= in - 1 + pad - k
    int64_t a = pad - k, b = in - 1 + pad - k;
    lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    hi = b < 0 ? 0 : b / stride + 1;
    if (hi > out) hi = out;
    if (lo > hi) lo = hi;
}

}  // namespace

namespace {

// im2col for stride 1 with "same" output size (OH = H, OW = W): row (c, kh, kw) is plane c shifted
// by (dh, dw) = (kh - pad, kw - pad), i.e. out[j] = xc[j + dh W + dw] over the valid rows, which is
// one contiguous copy; the columns that wrapped around a row edge are zeroed afterwards.
void im2col_same(float* __restrict col, const float* __restrict x, const ConvGeometry& g) {
    const int64_t H = g.H, W = g.W, N = g.N();
    for (int64_t c = 0; c < g.C; c++) {
        const float* xc = x + c * H * W;
        for (int64_t kh = 0; kh < g.KH; kh++)
            for (int64_t kw = 0; kw < g.KW; kw++) {
                float* __restrict row = col + ((c * g.KH + kh) * g.KW + kw) * N;
                const int64_t dh = kh - g.pad, dw = kw - g.pad;
                const int64_t oh_lo = std::max<int64_t>(0, -dh), oh_hi = std::min<int64_t>(H, H - dh);
                const int64_t j0 = oh_lo * W, j1 = oh_hi * W, shift = dh * W + dw;
                std::memset(row, 0, size_t(j0) * sizeof(float));
                // the first/last element of the block may fall outside the plane when dw != 0
                const int64_t c0 = std::max(j0, -shift), c1 = std::min(j1, H * W - shift);
                for (int64_t j = j0; j < c0; j++) row[j] = 0.0f;
                if (c1 > c0) std::memcpy(row + c0, xc + c0 + shift, size_t(c1 - c0) * sizeof(float));
                for (int64_t j = std::max(c1, c0); j < j1; j++) row[j] = 0.0f;
                std::memset(row + j1, 0, size_t(N - j1) * sizeof(float));
                // columns whose source column ow + dw left the row: ow < -dw or ow >= W - dw
                for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                    float* r = row + oh * W;
                    for (int64_t ow = 0; ow < -dw; ow++) r[ow] = 0.0f;
                    for (int64_t ow = W - dw; ow < W; ow++) r[ow] = 0.0f;
                }
            }
    }
}

}  // namespace

// NOTE: rows are short (OW = 28, 14, 7 here); the common stride-1 "same" case copies whole shifted
// planes instead (im2col_same).
void im2col(float* __restrict col, const float* __restrict x, const ConvGeometry& g) {
    const int64_t H = g.H, W = g.W, OH = g.OH, OW = g.OW, S = g.stride, P = g.pad, N = g.N();
    if (S == 1 && OH == H && OW == W) return im2col_same(col, x, g);
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t kh = 0; kh < g.KH; kh++)
            for (int64_t kw = 0; kw < g.KW; kw++) {
                float* __restrict row = col + ((c * g.KH + kh) * g.KW + kw) * N;
                int64_t lo, hi;
                valid_range(kw, S, P, W, OW, lo, hi);
                for (int64_t oh = 0; oh < OH; oh++) {
                    float* __restrict out = row + oh * OW;
                    int64_t ih = oh * S - P + kh;
                    if (ih < 0 || ih >= H) {
                        for (int64_t ow = 0; ow < OW; ow++) out[ow] = 0.0f;
                        continue;
                    }
                    const float* __restrict src = x + (c * H + ih) * W - P + kw;  // src[ow*S] is column ow
                    for (int64_t ow = 0; ow < lo; ow++) out[ow] = 0.0f;
                    if (S == 1)
                        for (int64_t ow = lo; ow < hi; ow++) out[ow] = src[ow];
                    else
                        for (int64_t ow = lo; ow < hi; ow++) out[ow] = src[ow * S];
                    for (int64_t ow = hi; ow < OW; ow++) out[ow] = 0.0f;
                }
            }
}

void col2im_add(float* __restrict dx, const float* __restrict dcol, const ConvGeometry& g) {
    const int64_t H = g.H, W = g.W, OH = g.OH, OW = g.OW, S = g.stride, P = g.pad, N = g.N();
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t kh = 0; kh < g.KH; kh++)
            for (int64_t kw = 0; kw < g.KW; kw++) {
                const float* __restrict row = dcol + ((c * g.KH + kh) * g.KW + kw) * N;
                int64_t lo, hi;
                valid_range(kw, S, P, W, OW, lo, hi);
                for (int64_t oh = 0; oh < OH; oh++) {
                    int64_t ih = oh * S - P + kh;
                    if (ih < 0 || ih >= H) continue;
                    const float* __restrict in = row + oh * OW;
                    float* __restrict dst = dx + (c * H + ih) * W - P + kw;
                    if (S == 1)
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow] += in[ow];
                    else
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow * S] += in[ow];
                }
            }
}

// ---- the convolution gemm ------------------------------------------------------------------------
// y (M, OH*OW) = epilogue(A (M,K) B) with row k of B read at b + off[k]. For a stride-1 convolution
// b is the zero-padded image (C, Hp, Wp) and off[k] = (c Hp + kh) Wp + kw, so that B[k][v] =
// xpad[c][oh + kh][ow + kw] at the "virtual" column v = oh Wp + ow: every row of B is a shifted view
// of the padded image and no im2col matrix is written (only the padded copy, 1/KH/KW of its size).
// Virtual columns with ow >= OW wrap around a row edge; they are computed and dropped (KW - 1 of
// every Wp columns). For other strides b is an im2col matrix (off[k] = k N, nothing dropped).
// A is packed once per call into blocks of MR rows ([K][MR] each); an MR x (NV lanes) micro-tile of
// accumulators stays in registers over the whole K loop, then an epilogue (scale, bias, ReLU,
// overwrite or accumulate) writes it out while it is in L1. Each product picks its tile shape (MR,
// NV) from a few that fit the registers, by the rows and columns it would compute for nothing.

namespace {

using vec = xsimd::batch<float>;
constexpr int64_t kLanes = int64_t(vec::size);
constexpr int kMaxNV = 3;                      // up to 3 vectors of columns per micro-tile
constexpr int64_t kMaxNT = kMaxNV * kLanes;    // widest tile; also the slack a B buffer needs past its end

// The micro-tile shapes: MR rows x NV vectors of accumulators, with their multiply-add throughput
// relative to the best. With 32 vector registers (AVX-512) 8 x 3 fits; with 16 (AVX2) 12 accumulators
// do, as 4 x 3 or 6 x 2 (equally fast when nothing is wasted; 4 x 2 ran 15 % slower on Zen 3), and
// a single vector of columns keeps 6 rows.
struct TileShape {
    int mr, nv;
    double efficiency;
};
using Shapes = std::array<TileShape, 3>;
constexpr Shapes kShapes = kLanes >= 16 ? Shapes{{{8, 3, 1.0}, {8, 2, 0.95}, {8, 1, 0.85}}}
                                        : Shapes{{{4, 3, 1.0}, {6, 2, 1.0}, {6, 1, 0.8}}};

// m rounded up to whole blocks of mr rows.
constexpr int64_t round_up(int64_t m, int64_t mr) { return (m + mr - 1) / mr * mr; }
// The most rows any shape pads m to (buffers are sized for it).
int64_t padded_rows(int64_t m) {
    int64_t most = 0;
    for (const TileShape& t : kShapes) most = std::max(most, round_up(m, t.mr));
    return most;
}

struct Epilogue {
    const float* scale = nullptr;  // per row of y (null: 1)
    const float* bias = nullptr;   // per row of y (null: 0)
    bool relu = false;
    bool accumulate = false;       // y += value instead of y = value
};

// The virtual columns: `rows` rows of `width` valid columns, one every `pitch` columns, and the
// micro-tile shape of the product.
struct Columns {
    int64_t rows = 0, width = 0, pitch = 0;
    int mr = kShapes[0].mr, nv = kShapes[0].nv;  // rows and vectors per micro-tile
    int64_t total() const { return rows * pitch; }
    int64_t tile() const { return nv * kLanes; }
    int64_t n_tiles() const { return (total() + tile() - 1) / tile(); }
};

// Columns of a product with M rows of output: the tile shape that computes the fewest padded rows x
// columns, weighed by its multiply-add throughput (fewer independent accumulators are slower).
Columns make_columns(int64_t rows, int64_t width, int64_t pitch, int64_t M) {
    Columns c;
    c.rows = rows, c.width = width, c.pitch = pitch;
    double best = 1e300;
    for (const TileShape& t : kShapes) {
        const double cost = double(round_up(c.total(), t.nv * kLanes)) * double(round_up(M, t.mr)) / t.efficiency;
        if (cost < best) best = cost, c.mr = t.mr, c.nv = t.nv;
    }
    return c;
}

// ap = A (M,K) in blocks of mr rows, each stored [K][mr]; rows past M are zero. a(m, k) gives A.
template <class GetA>
void pack_rows(float* __restrict ap, int64_t M, int64_t K, int mr, GetA a) {
    for (int64_t m0 = 0; m0 < M; m0 += mr) {
        float* blk = ap + m0 * K;
        for (int64_t k = 0; k < K; k++)
            for (int r = 0; r < mr; r++) blk[k * mr + r] = m0 + r < M ? a(m0 + r, k) : 0.0f;
    }
}
// Floats of a packed A in any tile shape, rounded up to whole 64-byte lines (buffers after it stay
// aligned).
int64_t packed_size(int64_t M, int64_t K) { return (padded_rows(M) * K + 15) / 16 * 16; }

// ctile (MR x NT, row pitch ldc) (+)= A block (MR x KC, packed [KC][MR]) times the KC rows
// b + off[k] (NT columns each). B is read in place: for a stride-1 convolution the KH*KW rows of one
// channel overlap (they are shifts of the same few image rows), so a block of rows touches about
// 1/KW of what a packed copy would, and stays in L1 while every row block of A passes over it.
template <int MR, int NV>
void micro_tile(float* __restrict ctile, const float* __restrict ap, const float* b, const int32_t* off, int64_t KC,
                bool accumulate, int64_t ldc = kMaxNT) {
    vec acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = accumulate ? vec::load_aligned(ctile + r * ldc + v * kLanes) : vec(0.0f);
    for (int64_t k = 0; k < KC; k++) {
        const float* bk = b + off[k];
        vec bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = vec::load_unaligned(bk + v * kLanes);
        const float* a = ap + k * MR;
        for (int r = 0; r < MR; r++) {
            vec ar(a[r]);
            for (int v = 0; v < NV; v++) acc[r][v] = xsimd::fma(ar, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v].store_aligned(ctile + r * ldc + v * kLanes);
}

// The valid stretches of one tile's virtual columns: tile column `src` goes to output column `dst`
// for `len` columns (one stretch per output row the tile touches).
struct Run {
    int64_t src, dst, len;
};

int runs_of_tile(Run* runs, int64_t v0, int64_t n, const Columns& cols) {
    int count = 0;
    const int64_t v_end = std::min(v0 + n, cols.total());
    for (int64_t v = v0; v < v_end;) {
        const int64_t oh = v / cols.pitch, ow = v - oh * cols.pitch;
        const int64_t row_end = std::min(v_end, (oh + 1) * cols.pitch);
        const int64_t len = std::min(row_end, oh * cols.pitch + cols.width) - v;
        if (len > 0) runs[count++] = Run{v - v0, oh * cols.width + ow, len};
        v = row_end;
    }
    return count;
}

// y[k] = epilogue(in[k]) = s in[k] + bias, then ReLU or added to y, for k in [0, n): whole vectors,
// then a scalar tail.
void epilogue_row(float* __restrict y, const float* __restrict in, int64_t n, float s, float bias, const Epilogue& ep) {
    const vec vs(s), vbias(bias), zero(0.0f);
    const int64_t whole = n / kLanes * kLanes;
    for (int64_t k = 0; k < whole; k += kLanes) {
        vec r = xsimd::fma(vec::load_unaligned(in + k), vs, vbias);
        if (ep.accumulate) r += vec::load_unaligned(y + k);
        else if (ep.relu) r = xsimd::max(r, zero);
        r.store_unaligned(y + k);
    }
    if (ep.accumulate)
        for (int64_t k = whole; k < n; k++) y[k] += s * in[k] + bias;
    else if (ep.relu)
        for (int64_t k = whole; k < n; k++) y[k] = std::max(s * in[k] + bias, 0.0f);
    else
        for (int64_t k = whole; k < n; k++) y[k] = s * in[k] + bias;
}

// y rows [m0, m1) <- epilogue(tile rows) over the runs.
void store_tile(float* __restrict y, int64_t ldy, const float* __restrict tile, int64_t m0, int64_t m1,
                const Run* runs, int n_runs, const Epilogue& ep) {
    for (int64_t m = m0; m < m1; m++) {
        const float s = ep.scale ? ep.scale[m] : 1.0f, bias = ep.bias ? ep.bias[m] : 0.0f;
        const float* t = tile + (m - m0) * kMaxNT;
        float* yr = y + m * ldy;
        for (int r = 0; r < n_runs; r++) {
            const float* __restrict in = t + runs[r].src;
            float* __restrict o = yr + runs[r].dst;
            const int64_t len = runs[r].len;
#if defined(__AVX512F__)
            // masked vectors: runs are short (a row of 7..28 columns), scalar tails would dominate
            const __m512 vs = _mm512_set1_ps(s), vb = _mm512_set1_ps(bias), zero = _mm512_setzero_ps();
            for (int64_t i = 0; i < len; i += 16) {
                const int64_t left = len - i;
                const __mmask16 k = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
                __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, in + i), vs, vb);
                if (ep.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, o + i));
                else if (ep.relu) v = _mm512_max_ps(v, zero);
                _mm512_mask_storeu_ps(o + i, k, v);
            }
#else
            epilogue_row(o, in, len, s, bias, ep);
#endif
        }
    }
}

// n rounded up to whole 64-byte lines of floats (and int32 offsets), so that buffers stay aligned.
int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

// Scratch of gemm_tiles for M rows: the C tile of all M rows (padded for any tile shape).
int64_t gemm_scratch(int64_t M) { return padded_rows(M) * kMaxNT; }

// Rows of B per K block.
constexpr int64_t kBlockK = 192;

// Tiles [t0, t1) of y (M rows, row pitch ldy) = epilogue(A B). For each tile, K is cut into blocks
// that stay in L1 while all row blocks of A pass over them; the C tile of all M rows accumulates.
template <int MR, int NV>
void gemm_tiles_nv(float* y, int64_t ldy, const float* ap, int64_t M, int64_t K, const float* b, const int32_t* off,
                   const Columns& cols, const Epilogue& ep, int64_t t0, int64_t t1, float* ctile) {
    constexpr int64_t NT = NV * kLanes;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t v0 = t * NT;
        const float* bt = b + v0;
        for (int64_t k0 = 0; k0 < K; k0 += kBlockK) {
            const int64_t kc = std::min(kBlockK, K - k0);
            for (int64_t m0 = 0; m0 < M; m0 += MR)
                micro_tile<MR, NV>(ctile + m0 * kMaxNT, ap + m0 * K + k0 * MR, bt, off + k0, kc, k0 > 0);
        }
        Run runs[kMaxNT + 1];
        const int n_runs = runs_of_tile(runs, v0, NT, cols);
        for (int64_t m0 = 0; m0 < M; m0 += MR)
            store_tile(y, ldy, ctile + m0 * kMaxNT, m0, std::min<int64_t>(M, m0 + MR), runs, n_runs, ep);
    }
}

// Runs fn.template operator()<MR, NV>() for the tile shape of `cols` (one instantiation per entry of
// kShapes).
template <class Fn>
void with_tile_shape(const Columns& cols, Fn fn) {
    const bool ran = [&]<size_t... I>(std::index_sequence<I...>) {
        return ((cols.mr == kShapes[I].mr && cols.nv == kShapes[I].nv &&
                 (fn.template operator()<kShapes[I].mr, kShapes[I].nv>(), true)) ||
                ...);
    }(std::make_index_sequence<kShapes.size()>());
    ENSURE(ran, "conv gemm: no micro-tile of ", cols.mr, " x ", cols.nv, " vectors");
}

void gemm_tiles(float* y, int64_t ldy, const float* ap, int64_t M, int64_t K, const float* b, const int32_t* off,
                const Columns& cols, const Epilogue& ep, int64_t t0, int64_t t1, float* scratch) {
    with_tile_shape(cols, [&]<int MR, int NV>() { gemm_tiles_nv<MR, NV>(y, ldy, ap, M, K, b, off, cols, ep, t0, t1, scratch); });
}

// c (row pitch ldc) = A B over the first cols.total() columns of the rows b + off[k], written whole
// tiles at a time straight into c: c must be 64-byte aligned, with ldc a multiple of 16 and room for
// the columns rounded up to the tile width and the rows rounded up to the tile's.
void gemm_panel(float* c, int64_t ldc, const float* ap, int64_t M, int64_t K, const float* b, const int32_t* off,
                const Columns& cols) {
    with_tile_shape(cols, [&]<int MR, int NV>() {
        constexpr int64_t NT = NV * kLanes;
        for (int64_t v0 = 0; v0 < cols.total(); v0 += NT)
            for (int64_t k0 = 0; k0 < K; k0 += kBlockK) {
                const int64_t kc = std::min(kBlockK, K - k0);
                for (int64_t m0 = 0; m0 < M; m0 += MR)
                    micro_tile<MR, NV>(c + m0 * ldc + v0, ap + m0 * K + k0 * MR, b + v0, off + k0, kc, k0 > 0, ldc);
            }
    });
}

// xpad (C, H + 2p, W + 2p) = x (C,H,W) with p zeros around each plane, followed by `slack` zeros.
// With a mask, elements whose mask value is not positive are copied as 0 (a fused ReLU's backward).
void pad_planes(float* __restrict xpad, const float* __restrict x, const float* __restrict mask, int64_t C, int64_t H,
                int64_t W, int64_t p, int64_t slack) {
    const int64_t Hp = H + 2 * p, Wp = W + 2 * p;
    for (int64_t c = 0; c < C; c++) {
        float* dst = xpad + c * Hp * Wp;
        std::memset(dst, 0, size_t(p * Wp) * sizeof(float));
        for (int64_t h = 0; h < H; h++) {
            float* __restrict row = dst + (h + p) * Wp;
            const float* __restrict src = x + (c * H + h) * W;
            for (int64_t i = 0; i < p; i++) row[i] = row[p + W + i] = 0.0f;
            if (mask) {
                const float* __restrict mk = mask + (c * H + h) * W;
                for (int64_t i = 0; i < W; i++) row[p + i] = mk[i] > 0.0f ? src[i] : 0.0f;
            } else {
                for (int64_t i = 0; i < W; i++) row[p + i] = src[i];
            }
        }
        std::memset(dst + (H + p) * Wp, 0, size_t(p * Wp) * sizeof(float));
    }
    std::memset(xpad + C * Hp * Wp, 0, size_t(slack) * sizeof(float));
}

// Row offsets of a stride-1 convolution over a padded image: k = (c, kh, kw) -> (c Hp + kh) Wp + kw.
void shifted_offsets(int32_t* off, int64_t C, int64_t KH, int64_t KW, int64_t Hp, int64_t Wp) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) off[(c * KH + kh) * KW + kw] = int32_t((c * Hp + kh) * Wp + kw);
}

void strided_offsets(int32_t* off, int64_t K, int64_t stride) {
    for (int64_t k = 0; k < K; k++) off[k] = int32_t(k * stride);
}

// Whether to split the batch across threads (one image per thread at a time) or to run images in
// order with each image's tiles split across the pool (small batches, e.g. batch-1 latency).
bool split_images(const ConvGeometry& g) { return num_threads() > 1 && g.B >= num_threads(); }

// Runs the tiles [0, n_tiles) of one image: all on this thread when images are split, else
// split across the pool (fn gets the tile range and the thread whose scratch to use).
template <class Fn>
void for_tiles(bool images_split, int thread, int64_t n_tiles, Fn fn) {
    if (images_split || num_threads() == 1) return fn(0, n_tiles, thread);
    parallel_run([&](int t) {
        int64_t t0, t1;
        chunk_range(n_tiles, num_threads(), t, t0, t1);
        if (t0 < t1) fn(t0, t1, t);
    });
}

// Runs fn(image, thread) over the batch: images split across threads, or in order on the caller.
template <class Fn>
void for_images(const ConvGeometry& g, Fn fn) {
    if (split_images(g)) {
        parallel_run([&](int t) {
            int64_t i0, i1;
            chunk_range(g.B, num_threads(), t, i0, i1);
            for (int64_t i = i0; i < i1; i++) fn(i, t);
        });
    } else {
        for (int64_t i = 0; i < g.B; i++) fn(i, 0);
    }
}

// Runs fn(i0, i1, thread) on each thread's contiguous chunk of the batch when images are split,
// else fn(0, B, 0) on the caller.
template <class Fn>
void for_chunks(const ConvGeometry& g, Fn fn) {
    if (split_images(g)) {
        parallel_run([&](int t) {
            int64_t i0, i1;
            chunk_range(g.B, num_threads(), t, i0, i1);
            if (i0 < i1) fn(i0, i1, t);
        });
    } else {
        fn(0, g.B, 0);
    }
}

}  // namespace

// ---- Winograd F(2x2, 3x3) ----
// A 3x3 stride-1 convolution computes each 2x2 block of outputs (a tile) from the 4x4 input patch
// around it: Y = A^T [ (G g G^T) .* (B^T d B) ] A, summed over input channels. The elementwise
// product is 16 independent gemms, M_xi (OC, tiles) = U_xi (OC, C) V_xi (C, tiles), for xi = 0..15,
// where U = G g G^T (the weights, transformed once per call) and V = B^T d B (the input, per tile).
// That is 16 multiply-adds per tile and channel pair where the direct convolution takes 36 (2.25x
// fewer); the transforms are additions. Tiles are the gemm's columns, numbered over the batch by
// tile row (image, tile row i) and column j; a block of tile rows is transformed into V, multiplied
// into M and transformed back into y while V and M stay in L2.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].

namespace {

bool g_winograd = true;

// Input channels (the gemms' K) and output channels (their rows) below which the transforms cost
// more than the multiplies they save; and the tiles (2x2 outputs) a call needs over its batch to pay
// for transforming and packing the weights (16 floats per filter, twice).
constexpr int64_t kWinogradMinChannels = 8;
// (Batch-1 latency of vgg on Zen 3, one thread: 2.69 ms with no minimum, 1.03 ms with 256, the same
// as with direct convolutions only.)
int64_t g_winograd_min_tiles = kWinogradDefaultMinTiles;

bool winograd_fits(int64_t C, int64_t OC, int64_t KH, int64_t KW, int64_t stride, int64_t pad, int64_t tiles) {
    return g_winograd && KH == 3 && KW == 3 && stride == 1 && pad <= 2 && C >= kWinogradMinChannels &&
           OC >= kWinogradMinChannels && tiles >= g_winograd_min_tiles;
}
// Tiles of B images of OH x OW outputs.
int64_t winograd_tiles(int64_t B, int64_t OH, int64_t OW) { return B * ((OH + 1) / 2) * ((OW + 1) / 2); }

// A stride-1 3x3 convolution of images (C, H, W) padded by `pad` into (OC, OH, OW), in tiles.
struct WinogradPlan {
    int64_t C = 0, H = 0, W = 0, OC = 0, OH = 0, OW = 0, pad = 0;
    int64_t th = 0, tw = 0;      // tiles per image: rows, columns
    int64_t rows_per_block = 0;  // tile rows per block
    int64_t mrows = 0;           // rows of M per xi (OC rounded up to whole micro-tiles)
    int64_t v_xi = 0, m_xi = 0;  // floats from one xi to the next in V and M
    int64_t pitch = 0;           // floats per row (one xi and channel) of V and of M
    int64_t split_rows = 0;      // input rows split into even and odd columns per block
    Columns gemm;                // the gemms' tile shape, for a whole block
    int64_t v_at = 0, m_at = 0, in_at = 0, out_at = 0, per_thread = 0;  // per-thread layout

    WinogradPlan() = default;
    WinogradPlan(int64_t C_, int64_t H_, int64_t W_, int64_t OC_, int64_t pad_)
        : C(C_), H(H_), W(W_), OC(OC_), OH(H_ + 2 * pad_ - 2), OW(W_ + 2 * pad_ - 2), pad(pad_) {
        th = (OH + 1) / 2, tw = (OW + 1) / 2;
        // V and M of a block in about 384 KiB (L2 holds 512 KiB or more)
        const int64_t cols = std::max<int64_t>(kMaxNT, (96 * 1024) / (16 * (C + OC)));
        rows_per_block = std::max<int64_t>(1, cols / tw);
        const int64_t block_cols = rows_per_block * tw;
        pitch = round16(std::max(block_cols + kLanes, round_up(block_cols, kMaxNT)));
        gemm = make_columns(1, block_cols, block_cols, OC);
        split_rows = 2 * rows_per_block + 2;
        int64_t at = 0;
        auto take = [&at](int64_t n) { int64_t here = at; at += round16(n); return here; };
        // The 16 xi planes are read (and written) together; one cache line of skew from plane to
        // plane keeps them off a single L1 set when a plane's size is a multiple of 4 KiB.
        v_xi = round16(C * pitch) + 16;
        mrows = padded_rows(OC);
        m_xi = round16(mrows * pitch) + 16;
        v_at = take(16 * v_xi + kMaxNT);
        m_at = take(16 * m_xi);
        in_at = take(split_rows * 4 * (tw + 1) + 2 * kLanes);  // padded rows, even, odd (+ slack for loads)
        out_at = take(2 * rows_per_block * OW + 4 * round_up(tw, kLanes));
        per_thread = at;
    }
    // shared: U (16, OC, C) transformed, then packed for the gemm; the gemm's row offsets
    int64_t packed() const { return packed_size(OC, C); }
    int64_t shared() const { return round16(16 * OC * C) + 16 * packed() + round16(C); }
};

// u (16, OC, C) = G g G^T of each 3x3 filter; g(o, c, kh, kw) gives the filter (the forward's weight,
// or the flipped, transposed one of the input gradient).
template <class GetW>
void winograd_weights(float* __restrict u, int64_t OC, int64_t C, GetW g) {
    for (int64_t o = 0; o < OC; o++)
        for (int64_t c = 0; c < C; c++) {
            float gg[4][3];  // G g
            for (int kw = 0; kw < 3; kw++) {
                const float g0 = g(o, c, 0, kw), g1 = g(o, c, 1, kw), g2 = g(o, c, 2, kw);
                gg[0][kw] = g0, gg[1][kw] = 0.5f * (g0 + g1 + g2), gg[2][kw] = 0.5f * (g0 - g1 + g2), gg[3][kw] = g2;
            }
            for (int a = 0; a < 4; a++) {
                const float g0 = gg[a][0], g1 = gg[a][1], g2 = gg[a][2];
                const float row[4] = {g0, 0.5f * (g0 + g1 + g2), 0.5f * (g0 - g1 + g2), g2};
                for (int b = 0; b < 4; b++) u[((a * 4 + b) * OC + o) * C + c] = row[b];
            }
        }
}

// The four values t0..t3 = B^T applied to d0..d3 (a column or a row of a patch).
inline void winograd_bt(const vec d[4], vec t[4]) {
    t[0] = d[0] - d[2], t[1] = d[1] + d[2], t[2] = d[2] - d[1], t[3] = d[1] - d[3];
}

// even[k] = in[2k], odd[k] = in[2k + 1] for k in [0, n).
void deinterleave(float* __restrict even, float* __restrict odd, const float* __restrict in, int64_t n) {
    int64_t k = 0;
#if defined(__AVX2__)
    for (; k + 8 <= n; k += 8) {  // 16 floats -> 8 even, 8 odd (shuffle within lanes, then order the halves)
        const __m256 a = _mm256_loadu_ps(in + 2 * k), b = _mm256_loadu_ps(in + 2 * k + 8);
        const __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xDD);
        _mm256_storeu_ps(even + k, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
        _mm256_storeu_ps(odd + k, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8)));
    }
#endif
    for (; k < n; k++) even[k] = in[2 * k], odd[k] = in[2 * k + 1];
}

// The even and odd columns of input rows [h0, h0 + rows) of plane xc (H, W), padded by `pad` columns
// on the left and zeros up to 2 (tw + 1) columns (rows outside the plane are zero): row k's even
// columns at even + k (tw + 1), odd ones at odd + k (tw + 1). The patches of consecutive tiles then
// start at consecutive floats. `padded` holds the padded rows first.
void split_columns(float* __restrict even, float* __restrict odd, float* __restrict padded, const float* __restrict xc,
                   int64_t h0, int64_t rows, const WinogradPlan& p) {
    const int64_t n = p.tw + 1, Wp = 2 * n, copy = std::min(p.W, Wp - p.pad), right = Wp - p.pad - copy;
    for (int64_t k = 0; k < rows; k++) {
        float* __restrict row = padded + k * Wp;
        const int64_t h = h0 + k;
        if (h < 0 || h >= p.H) {
            for (int64_t k2 = 0; k2 < Wp; k2++) row[k2] = 0.0f;
            continue;
        }
        // rows are a few dozen floats: plain loops beat calls to memcpy / memset
        const float* __restrict src = xc + h * p.W;
        for (int64_t k2 = 0; k2 < p.pad; k2++) row[k2] = 0.0f;
        for (int64_t k2 = 0; k2 < copy; k2++) row[p.pad + k2] = src[k2];
        for (int64_t k2 = 0; k2 < right; k2++) row[p.pad + copy + k2] = 0.0f;
    }
    deinterleave(even, odd, padded, rows * n);
}

// V columns [col, col + tw) of one channel (rows xi = 0..15, xi stride v_xi) = B^T d B of the
// tiles of one tile row, whose 4 input rows are split into even and odd columns (split_columns).
void winograd_input_row(float* __restrict v, int64_t col, const WinogradPlan& p, const float* __restrict even,
                        const float* __restrict odd) {
    const int64_t n = p.tw + 1;
    const int64_t xi_stride = p.v_xi;
    for (int64_t j = 0; j < p.tw; j += kLanes) {
        vec t[4][4];  // t[a][q] = (B^T d)[a][q]
        for (int q = 0; q < 4; q++) {
            vec d[4];
            const float* half = q & 1 ? odd : even;
            for (int r = 0; r < 4; r++) d[r] = vec::load_unaligned(half + r * n + j + q / 2);
            vec tq[4];
            winograd_bt(d, tq);
            for (int a = 0; a < 4; a++) t[a][q] = tq[a];
        }
        for (int a = 0; a < 4; a++) {
            vec o[4];
            winograd_bt(t[a], o);
            for (int b = 0; b < 4; b++) o[b].store_unaligned(v + (a * 4 + b) * xi_stride + col + j);
        }
    }
}

// out[2k] = a[k], out[2k + 1] = b[k] for the 2 kLanes floats at out (xsimd's zip_lo / zip_hi
// interleave within 128-bit lanes on AVX, hence the intrinsics).
inline void store_interleaved(float* out, const vec& a, const vec& b) {
#if defined(__AVX512F__)
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_storeu_ps(out, _mm512_permutex2var_ps(a, lo, b));
    _mm512_storeu_ps(out + 16, _mm512_permutex2var_ps(a, hi, b));
#elif defined(__AVX__)
    const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);  // (a0 b0 a1 b1 | a4 b4 a5 b5), ...
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
#else
    xsimd::zip_lo(a, b).store_unaligned(out);
    xsimd::zip_hi(a, b).store_unaligned(out + kLanes);
#endif
}

// Output rows [2 i0, 2 i1) of one output channel, formed in `seg` (rows of OW floats) = A^T M A of
// the tiles of tile rows [i0, i1), whose M columns start at `col` (rows xi = 0..15, xi stride m_xi).
// Whole vectors spill past a row's end into the next row: vectors are written from the last to the
// first, and tile rows in order, so every spill is overwritten by the values that belong there.
void winograd_output_rows(float* __restrict seg, const float* __restrict m, int64_t i0, int64_t i1, int64_t col,
                          const WinogradPlan& p) {
    const int64_t xi_stride = p.m_xi, last = (p.tw - 1) / kLanes * kLanes;
    for (int64_t i = i0; i < i1; i++, col += p.tw) {
        float* out = seg + 2 * (i - i0) * p.OW;
        for (int64_t j = last; j >= 0; j -= kLanes) {
            vec s[2][4];  // s[a][b] = (A^T M)[a][b]
            for (int b = 0; b < 4; b++) {
                const vec m0 = vec::load_unaligned(m + (0 + b) * xi_stride + col + j);
                const vec m1 = vec::load_unaligned(m + (4 + b) * xi_stride + col + j);
                const vec m2 = vec::load_unaligned(m + (8 + b) * xi_stride + col + j);
                const vec m3 = vec::load_unaligned(m + (12 + b) * xi_stride + col + j);
                s[0][b] = m0 + m1 + m2, s[1][b] = m1 - m2 - m3;
            }
            for (int a = 0; a < 2; a++)
                store_interleaved(out + a * p.OW + 2 * j, s[a][0] + s[a][1] + s[a][2], s[a][1] - s[a][2] - s[a][3]);
        }
    }
}

// Tile rows [r0, r1) of the batch x (images of C*H*W floats) into y (images of OC*OH*OW floats):
// input transform, 16 gemms, output transform, one block of tile rows at a time. `up` is U packed
// per xi, `off` the gemm's row offsets (k * pitch).
void winograd_rows(float* y, const float* x, const float* up, const int32_t* off, const WinogradPlan& p,
                   const Epilogue& ep, int64_t r0, int64_t r1, float* scratch) {
    float* v = scratch + p.v_at;
    float* m = scratch + p.m_at;
    float* padded = scratch + p.in_at;
    float* even = padded + p.split_rows * 2 * (p.tw + 1);
    float* odd = even + p.split_rows * (p.tw + 1) + kLanes;
    // the loads of the last tile row's last vector read up to kLanes floats past each half
    std::memset(odd - kLanes, 0, size_t(kLanes) * sizeof(float));
    std::memset(odd + p.split_rows * (p.tw + 1), 0, size_t(kLanes) * sizeof(float));
    const int64_t in_size = p.C * p.H * p.W, out_size = p.OC * p.OH * p.OW, n = p.tw + 1;
    for (int64_t b0 = r0; b0 < r1; b0 += p.rows_per_block) {
        const int64_t b1 = std::min(r1, b0 + p.rows_per_block), cols = (b1 - b0) * p.tw;
        for (int64_t c = 0; c < p.C; c++)
            for (int64_t r = b0; r < b1;) {  // the block's tile rows of one image at a time
                const int64_t img = r / p.th, i0 = r - img * p.th, i1 = std::min(p.th, i0 + (b1 - r));
                split_columns(even, odd, padded, x + img * in_size + c * p.H * p.W, 2 * i0 - p.pad, 2 * (i1 - i0) + 2, p);
                for (int64_t i = i0; i < i1; i++)
                    winograd_input_row(v + c * p.pitch, (r + i - i0 - b0) * p.tw, p, even + 2 * (i - i0) * n,
                                       odd + 2 * (i - i0) * n);
                r += i1 - i0;
            }
        Columns gc = p.gemm;  // the shape U was packed for; fewer columns in the last block
        gc.width = gc.pitch = cols;
        // the gemm reads whole tiles of columns: zero what the input transform did not write
        const int64_t written = cols - p.tw + round_up(p.tw, kLanes), read = round_up(cols, gc.tile());
        if (read > written)
            for (int64_t row = 0; row < 16 * p.C; row++)
                std::memset(v + (row / p.C) * p.v_xi + (row % p.C) * p.pitch + written, 0,
                            size_t(read - written) * sizeof(float));
        for (int xi = 0; xi < 16; xi++)
            gemm_panel(m + xi * p.m_xi, p.pitch, up + xi * p.packed(), p.OC, p.C, v + xi * p.v_xi, off, gc);
        for (int64_t r = b0; r < b1;) {  // the block's tile rows of one image at a time
            const int64_t img = r / p.th, i0 = r - img * p.th, i1 = std::min(p.th, i0 + (b1 - r));
            const int64_t h0 = 2 * i0, h1 = std::min(p.OH, 2 * i1);
            for (int64_t o = 0; o < p.OC; o++) {
                winograd_output_rows(scratch + p.out_at, m + o * p.pitch, i0, i1, (r - b0) * p.tw, p);
                epilogue_row(y + img * out_size + (o * p.OH + h0) * p.OW, scratch + p.out_at, (h1 - h0) * p.OW,
                             ep.scale ? ep.scale[o] : 1.0f, ep.bias ? ep.bias[o] : 0.0f, ep);
            }
            r += i1 - i0;
        }
    }
}

// Shared part of the workspace: U transformed by g(o, c, kh, kw), packed for tile shapes of `mr` rows,
// and the gemm's row offsets. Returns the packed U; `off` receives the offsets.
template <class GetW>
const float* winograd_prepare(float* shared, const WinogradPlan& p, int mr, GetW g, int32_t*& off) {
    float* u = shared;
    float* up = shared + round16(16 * p.OC * p.C);
    off = reinterpret_cast<int32_t*>(up + 16 * p.packed());
    winograd_weights(u, p.OC, p.C, g);
    for (int xi = 0; xi < 16; xi++) {
        const float* uxi = u + xi * p.OC * p.C;
        pack_rows(up + xi * p.packed(), p.OC, p.C, mr, [uxi, &p](int64_t o, int64_t c) { return uxi[o * p.C + c]; });
    }
    strided_offsets(off, p.C, p.pitch);
    return up;
}

// winograd_rows over all tile rows of B images: on the calling thread (`thread`'s scratch) when
// `here`, else split across the pool in equal contiguous chunks of tile rows.
template <class Scratch>
void winograd_run(float* y, const float* x, const float* up, const int32_t* off, const WinogradPlan& p,
                  const Epilogue& ep, int64_t B, bool here, int thread, Scratch scratch) {
    const int64_t rows = B * p.th;
    if (here || num_threads() == 1 || rows == 1) return winograd_rows(y, x, up, off, p, ep, 0, rows, scratch(thread));
    parallel_run([&](int t) {
        int64_t r0, r1;
        chunk_range(rows, num_threads(), t, r0, r1);
        if (r0 < r1) winograd_rows(y, x, up, off, p, ep, r0, r1, scratch(t));
    });
}

}  // namespace

void set_winograd(bool enabled, int64_t min_tiles) { g_winograd = enabled, g_winograd_min_tiles = min_tiles; }
bool uses_winograd(const ConvGeometry& g) {
    return winograd_fits(g.C, g.OC, g.KH, g.KW, g.stride, g.pad, winograd_tiles(g.B, g.OH, g.OW));
}

void pad_phases(float* __restrict xq, const float* __restrict x, int64_t C, int64_t H, int64_t W, int64_t p,
                const Phases& ph, int64_t slack) {
    if (ph.s == 1) return pad_planes(xq, x, nullptr, C, H, W, p, slack);
    const int64_t s = ph.s;
    std::memset(xq, 0, size_t(C * s * s * ph.plane + slack) * sizeof(float));
    for (int64_t c = 0; c < C; c++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t hp = h + p;
            const float* __restrict src = x + (c * H + h) * W;
            float* row = xq + ((c * s + hp % s) * s) * ph.plane + (hp / s) * ph.Wq;
            for (int64_t pw = 0; pw < s; pw++) {  // padded column j s + pw is input column j s + pw - p
                float* __restrict dst = row + pw * ph.plane;
                const int64_t j0 = p > pw ? (p - pw + s - 1) / s : 0, j1 = std::min(ph.Wq, (W + p - pw + s - 1) / s);
                for (int64_t j = j0; j < j1; j++) dst[j] = src[j * s + pw - p];
            }
        }
}

void unphase_add(float* __restrict dx, const float* __restrict dxq, int64_t C, int64_t H, int64_t W, int64_t p,
                 const Phases& ph) {
    const int64_t s = ph.s;
    for (int64_t c = 0; c < C; c++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t hp = h + p;
            float* __restrict dst = dx + (c * H + h) * W;
            const float* row = dxq + ((c * s + hp % s) * s) * ph.plane + (hp / s) * ph.Wq;
            for (int64_t pw = 0; pw < s; pw++) {
                const float* __restrict src = row + pw * ph.plane;
                const int64_t j0 = p > pw ? (p - pw + s - 1) / s : 0, j1 = std::min(ph.Wq, (W + p - pw + s - 1) / s);
                for (int64_t j = j0; j < j1; j++) dst[j * s + pw - p] += src[j];
            }
        }
}

void phase_offsets(int32_t* off, const ConvGeometry& g, const Phases& ph) {
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t kh = 0; kh < g.KH; kh++)
            for (int64_t kw = 0; kw < g.KW; kw++) off[(c * g.KH + kh) * g.KW + kw] = int32_t(ph.tap(c, kh, kw));
}

namespace {

// Layout of the forward: the phase planes of one image (the padded image when stride 1) and the
// virtual columns of the shifted gemm.
struct ForwardPlan {
    Phases ph;
    int64_t planes, b_size;  // floats of the phase planes, and of their buffer (slack for the last tile and shift)
    Columns cols;
    int64_t per_thread;
    explicit ForwardPlan(const ConvGeometry& g)
        : ph(g), planes(ph.planes(g)), b_size(round16(planes + ph.Wq + g.KW + kMaxNT)),
          cols(make_columns(g.OH, g.OW, ph.Wq, g.OC)), per_thread(b_size + gemm_scratch(g.OC)) {}
};

}  // namespace

int64_t conv2d_forward_workspace(const ConvGeometry& g, int n_threads) {
    if (uses_winograd(g)) {
        const WinogradPlan p(g.C, g.H, g.W, g.OC, g.pad);
        return p.shared() + int64_t(n_threads) * p.per_thread;
    }
    ForwardPlan plan(g);
    // shared: packed weights, row offsets; per thread: phase planes, C tile
    return packed_size(g.OC, g.K()) + round16(g.K()) + int64_t(n_threads) * plan.per_thread;
}

void conv2d_forward(float* y, const float* x, const float* w, const float* scale, const float* shift,
                    const ConvGeometry& g, bool relu, float* workspace) {
    Epilogue ep;
    ep.scale = scale;
    ep.bias = shift;
    ep.relu = relu;
    if (uses_winograd(g)) {
        const WinogradPlan p(g.C, g.H, g.W, g.OC, g.pad);
        const int64_t KK = g.KH * g.KW;
        int32_t* off = nullptr;
        const float* up = winograd_prepare(workspace, p, p.gemm.mr, [w, &g, KK](int64_t o, int64_t c, int kh, int kw) {
            return w[(o * g.C + c) * KK + kh * 3 + kw];
        }, off);
        float* per_thread = workspace + p.shared();
        winograd_run(y, x, up, off, p, ep, g.B, false, 0, [&](int t) { return per_thread + t * p.per_thread; });
        return;
    }
    const int64_t K = g.K(), N = g.N(), OC = g.OC, in_size = g.C * g.H * g.W;
    const ForwardPlan plan(g);
    float* ap = workspace;
    int32_t* taps = reinterpret_cast<int32_t*>(ap + packed_size(OC, K));
    float* per_thread = ap + packed_size(OC, K) + round16(K);
    pack_rows(ap, OC, K, plan.cols.mr, [w, K](int64_t m, int64_t k) { return w[m * K + k]; });
    phase_offsets(taps, g, plan.ph);
    const bool images_split = split_images(g);
    auto scratch = [&](int t) { return per_thread + t * plan.per_thread; };
    for_chunks(g, [&](int64_t i0, int64_t i1, int t) {
        float* xq = scratch(t);
        for (int64_t i = i0; i < i1; i++) {
            pad_phases(xq, x + i * in_size, g.C, g.H, g.W, g.pad, plan.ph, plan.b_size - plan.planes);
            for_tiles(images_split, t, plan.cols.n_tiles(), [&](int64_t t0, int64_t t1, int tt) {
                gemm_tiles(y + i * OC * N, N, ap, OC, K, xq, taps, plan.cols, ep, t0, t1, scratch(tt) + plan.b_size);
            });
        }
    });
}

namespace {

// The input gradient of a stride-1 convolution is itself a stride-1 convolution: dx = conv(dy, w')
// with w'[c][o][kh][kw] = w[o][c][KH-1-kh][KW-1-kw] and padding KH-1-pad, which the shifted gemm
// computes straight into dx. Other strides compute dcol = w^T dyv over the virtual columns of the
// forward's phase planes (dyv = dy with zero garbage columns), add each row of dcol into the phase
// planes of dx at its tap's offset (a contiguous add, the adjoint of the forward's shifted read),
// and scatter the phase planes back into dx.
bool dx_by_transposed_conv(const ConvGeometry& g) { return g.stride == 1 && g.KH == g.KW && g.pad <= g.KH - 1; }

// The weight gradient is KH*KW gemms over shifted rows of the input's phase planes stored
// channel-last, xT[phase][i Wq + j][c]:
//   dw[o][c][kh][kw] = sum_{oh,ow} dy[o][oh][ow] xT[(kh % s, kw % s)][oh Wq + ow + (kh / s) Wq + kw / s][c]
// The sum runs over output pixels (the gemm's K), each picking its B row through the offset table;
// each B row is C contiguous floats; no im2col. Worth it when C fills a SIMD tile; else im2col +
// OpenBLAS.
bool dw_by_shifted_gemm(const ConvGeometry& g) { return g.C >= kLanes / 2; }

// With fewer channels (first layers: one channel), a stride-1 convolution's weight gradient is
// C * KH * KW dot products per output channel, each of dy_o with a shifted view of the padded plane
// c: dw[o][c][kh][kw] = sum_v dyp_o[v] xpad_c[v + kh Wp + kw] over the virtual columns v = oh Wp + ow,
// with dy laid out at the plane's pitch and zeros past OW (wrapped columns add nothing). No im2col;
// R rows of taps at a time (R x KW vector accumulators) share each load of dy.
constexpr int kDotAccumulators = 10;
bool dw_by_dots(const ConvGeometry& g) { return !dw_by_shifted_gemm(g) && g.stride == 1 && g.KW <= kDotAccumulators; }
constexpr int dot_rows(int kw) { return std::max(1, kDotAccumulators / kw); }

template <int KW>
void dw_dots_kw(float* __restrict dw_acc, const float* __restrict xpad, const float* __restrict dyp,
                const ConvGeometry& g, int64_t Wp, int64_t plane, int64_t Vr) {
    constexpr int R = dot_rows(KW);
    for (int64_t o = 0; o < g.OC; o++)
        for (int64_t c = 0; c < g.C; c++)
            for (int64_t kh0 = 0; kh0 < g.KH; kh0 += R) {  // rows past KH read zero slack; dropped
                vec acc[R][KW];
                for (int r = 0; r < R; r++)
                    for (int kw = 0; kw < KW; kw++) acc[r][kw] = vec(0.0f);
                const float* __restrict xr = xpad + c * plane + kh0 * Wp;
                const float* __restrict d = dyp + o * Vr;
                for (int64_t v = 0; v < Vr; v += kLanes) {
                    const vec dv = vec::load_aligned(d + v);
                    for (int r = 0; r < R; r++)
                        for (int kw = 0; kw < KW; kw++)
                            acc[r][kw] = xsimd::fma(dv, vec::load_unaligned(xr + r * Wp + v + kw), acc[r][kw]);
                }
                for (int r = 0; r < R && kh0 + r < g.KH; r++)
                    for (int kw = 0; kw < KW; kw++)
                        dw_acc[((o * g.C + c) * g.KH + kh0 + r) * KW + kw] += xsimd::hadd(acc[r][kw]);
            }
}

// dw_acc (OC, C, KH, KW) += the weight gradient of one image by dot products (dw_by_dots). xpad and
// dyp are scratch of dots_xpad_size / dots_dy_size floats.
void weight_grad_dots(float* dw_acc, float* xpad, float* dyp, const float* x, const float* dy, const ConvGeometry& g) {
    const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad, V = g.OH * Wp, Vr = round_up(V, kLanes);
    const int R = dot_rows(int(g.KW));
    pad_planes(xpad, x, nullptr, g.C, g.H, g.W, g.pad, R * Wp + 2 * kLanes + g.KW);
    for (int64_t o = 0; o < g.OC; o++) {
        float* __restrict d = dyp + o * Vr;
        const float* __restrict src = dy + o * g.OH * g.OW;
        for (int64_t oh = 0; oh < g.OH; oh++) {
            float* __restrict row = d + oh * Wp;
            const float* __restrict in = src + oh * g.OW;
            for (int64_t ow = 0; ow < g.OW; ow++) row[ow] = in[ow];
            for (int64_t ow = g.OW; ow < Wp; ow++) row[ow] = 0.0f;
        }
        for (int64_t v = V; v < Vr; v++) d[v] = 0.0f;
    }
    const bool ran = [&]<int... I>(std::integer_sequence<int, I...>) {
        return ((g.KW == I + 1 && (dw_dots_kw<I + 1>(dw_acc, xpad, dyp, g, Wp, Hp * Wp, Vr), true)) || ...);
    }(std::make_integer_sequence<int, kDotAccumulators>());
    ENSURE(ran, "conv weight gradient: no dot-product kernel for width ", g.KW);
}
int64_t dots_xpad_size(const ConvGeometry& g) {
    const int64_t Wp = g.W + 2 * g.pad;
    return g.C * (g.H + 2 * g.pad) * Wp + dot_rows(int(g.KW)) * Wp + 2 * kLanes + g.KW;
}
int64_t dots_dy_size(const ConvGeometry& g) { return g.OC * round_up(g.OH * (g.W + 2 * g.pad), kLanes); }

// xT (s*s phase planes of Hq*Wq rows, then `extra_rows`; C columns) = the phase planes of x (C,H,W)
// padded by p, stored channel-last, then kMaxNT floats of slack; all padding is zero.
void pad_transpose(float* __restrict xt, const float* __restrict x, int64_t C, int64_t H, int64_t W, int64_t p,
                   const Phases& ph, int64_t extra_rows) {
    const int64_t s = ph.s, rows = s * s * ph.plane + extra_rows;
    std::memset(xt, 0, size_t(rows * C + kMaxNT) * sizeof(float));
    for (int64_t h = 0; h < H; h++) {
        const int64_t hp = h + p;
        for (int64_t w = 0; w < W; w++) {
            const int64_t wp = w + p;
            float* dst = xt + (((hp % s) * s + wp % s) * ph.plane + (hp / s) * ph.Wq + wp / s) * C;
            const float* src = x + h * W + w;
            for (int64_t c = 0; c < C; c++) dst[c] = src[c * H * W];
        }
    }
}

// Columns k_at .. k_at + OH*OW of A (OC rows, K columns in all) = dy (OC, OH*OW), in the packed
// layout of pack_rows.
void pack_dy_rows(float* __restrict ap, const float* __restrict dy, int64_t OC, int64_t N, int64_t K, int64_t k_at,
                  int mr) {
    for (int64_t m0 = 0; m0 < OC; m0 += mr) {
        float* blk = ap + m0 * K + k_at * mr;
        const int rows = int(std::min<int64_t>(mr, OC - m0));
        for (int64_t n = 0; n < N; n++) {
            float* d = blk + n * mr;
            for (int r = 0; r < rows; r++) d[r] = dy[(m0 + r) * N + n];
            for (int r = rows; r < mr; r++) d[r] = 0.0f;
        }
    }
}

// Scratch of the backward. Shared: packed A of the dx gemm and its row offsets, the row offsets of
// the dw gemm. Per thread (all sizes rounded to 64-byte lines): masked dy, the dw path's buffers
// (packed virtual dy + channel-last padded x, or the im2col of x), the dx path's buffers (padded dy,
// or dy with slack + dcol), gemm scratch, and this thread's partial dw and db.
struct BackwardPlan {
    bool dx_winograd, dx_transposed, dw_shifted, dw_dots;
    WinogradPlan wino;                      // dx path by Winograd: the transposed convolution of dy
    int64_t pad_t = 0, Hp_t = 0, Wp_t = 0;  // dx path: padding KH-1-pad of dy, padded plane
    Phases ph;                              // dw path: phase planes of x
    int64_t V = 0;                          // dw path: output pixels per image (K of the gemm per image)
    int64_t G = 1, xt_rows = 0, xt_slot = 0; // dw path: images per gemm, rows and floats of one xT slot
    Columns dx_cols, dw_cols;
    // shared
    int64_t a_size = 0, dx_off = 0, dw_off = 0;
    // per thread, as offsets into the thread's block
    int64_t wino_at = 0;
    int64_t masked = 0, dw_a = 0, dw_b = 0, dx_b = 0, dcol = 0, dxq = 0, gemm_ws = 0, part_dw = 0, part_db = 0,
            per_thread = 0;
    int64_t Vdx = 0;  // strided dx path: virtual columns of dy (pitch ph.Wq)

    BackwardPlan(const ConvGeometry& g, bool need_dx, bool need_dw)
        : dx_winograd(need_dx && g.pad <= 2 &&
                      winograd_fits(g.OC, g.C, g.KH, g.KW, g.stride, 2 - g.pad, winograd_tiles(g.B, g.H, g.W))),
          dx_transposed(need_dx && !dx_winograd && dx_by_transposed_conv(g)), dw_shifted(need_dw && dw_by_shifted_gemm(g)),
          dw_dots(need_dw && dw_by_dots(g)), ph(g) {
        const int64_t K = g.K(), N = g.N();
        int64_t gemm_rows = 0;
        if (dx_winograd) {
            wino = WinogradPlan(g.OC, g.OH, g.OW, g.C, 2 - g.pad);
            a_size = wino.shared();
        } else if (need_dx && dx_transposed) {
            pad_t = g.KH - 1 - g.pad, Hp_t = g.OH + 2 * pad_t, Wp_t = g.OW + 2 * pad_t;
            dx_cols = make_columns(g.H, g.W, Wp_t, g.C);
            a_size = packed_size(g.C, g.OC * g.KH * g.KW);
            dx_off = round16(g.OC * g.KH * g.KW);
            gemm_rows = g.C;
        } else if (need_dx) {
            Vdx = g.OH * ph.Wq;
            dx_cols = make_columns(1, Vdx, Vdx, K);
            a_size = packed_size(K, g.OC);
            dx_off = round16(g.OC);
            gemm_rows = K;
        }
        if (dw_shifted) {
            V = N;
            // Images are concatenated along the gemm's K (= virtual columns): short K (small
            // images) would spend the time storing partial dw tiles instead of multiplying.
            G = std::clamp<int64_t>((512 + V - 1) / V, 1, std::min<int64_t>(16, std::max<int64_t>(1, g.B)));
            xt_rows = g.stride * g.stride * ph.plane + ph.Wq + g.KW;
            xt_slot = round16(xt_rows * g.C + kMaxNT);
            dw_cols = make_columns(1, g.C, g.C, g.OC);
            dw_off = round16(G * V);
            gemm_rows = std::max(gemm_rows, g.OC);
        }
        int64_t at = 0;
        auto take = [&at](int64_t n) { int64_t here = at; at += round16(n); return here; };
        masked = take(g.OC * N);
        if (dw_shifted) {
            dw_a = take(packed_size(g.OC, G * V));
            dw_b = take(G * xt_slot);
        } else if (dw_dots) {
            dw_a = take(dots_dy_size(g));
            dw_b = take(dots_xpad_size(g));
        } else if (need_dw && !g.pointwise()) {
            dw_b = take(K * N);  // im2col of x
        }
        if (dx_winograd) {
            wino_at = take(wino.per_thread);
        } else if (need_dx && dx_transposed) {
            dx_b = take(g.OC * Hp_t * Wp_t + g.KW + kMaxNT);
        } else if (need_dx) {
            dx_b = take(g.OC * Vdx + kMaxNT);
            dcol = take(K * Vdx);
            dxq = take(g.C * g.stride * g.stride * ph.plane + ph.Wq + g.KW + kMaxNT);
        }
        gemm_ws = take(gemm_rows > 0 ? gemm_scratch(gemm_rows) : 0);
        part_dw = take(g.OC * K);
        part_db = take(g.OC);
        per_thread = at;
    }
    int64_t shared() const { return a_size + dx_off + dw_off; }
};

}  // namespace

int64_t conv2d_backward_workspace(const ConvGeometry& g, int n_threads) {
    BackwardPlan plan(g, true, true);
    return plan.shared() + int64_t(n_threads) * plan.per_thread;
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* y_relu, const float* x,
                     const float* w, const ConvGeometry& g, float* workspace) {
    const int64_t K = g.K(), N = g.N(), OC = g.OC, C = g.C, KK = g.KH * g.KW, in_size = g.C * g.H * g.W;
    const BackwardPlan plan(g, dx != nullptr, dw != nullptr);
    float* ap = workspace;
    int32_t* dx_off = reinterpret_cast<int32_t*>(ap + plan.a_size);
    int32_t* dw_off = reinterpret_cast<int32_t*>(ap + plan.a_size + plan.dx_off);
    float* per_thread = ap + plan.shared();
    const float* wino_u = nullptr;
    int32_t* wino_off = nullptr;
    if (dx && plan.dx_winograd) {  // w'[c][o][kh][kw] = w[o][c][2-kh][2-kw]
        wino_u = winograd_prepare(ap, plan.wino, plan.wino.gemm.mr, [w, C, KK](int64_t c, int64_t o, int kh, int kw) {
            return w[(o * C + c) * KK + (2 - kh) * 3 + (2 - kw)];
        }, wino_off);
    } else if (dx && plan.dx_transposed) {
        pack_rows(ap, C, OC * KK, plan.dx_cols.mr, [w, C, KK](int64_t c, int64_t k) {
            const int64_t o = k / KK, r = k - o * KK;
            return w[(o * C + c) * KK + (KK - 1 - r)];
        });
        shifted_offsets(dx_off, OC, g.KH, g.KW, plan.Hp_t, plan.Wp_t);
    } else if (dx) {
        pack_rows(ap, K, OC, plan.dx_cols.mr, [w, K](int64_t m, int64_t o) { return w[o * K + m]; });  // w^T (K, OC)
        strided_offsets(dx_off, OC, plan.Vdx);
    }
    if (plan.dw_shifted)  // row (j, oh, ow) of B: row oh Wq + ow of image slot j
        for (int64_t j = 0; j < plan.G; j++)
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++)
                    dw_off[j * plan.V + oh * g.OW + ow] = int32_t(j * plan.xt_slot + (oh * plan.ph.Wq + ow) * C);
    const bool images_split = split_images(g);
    const int n_parts = images_split ? num_threads() : 1;
    auto scratch = [&](int t, int64_t at) { return per_thread + t * plan.per_thread + at; };
    for (int t = 0; t < n_parts; t++) {
        if (dw) std::memset(scratch(t, plan.part_dw), 0, size_t(OC * K) * sizeof(float));
        if (db) std::memset(scratch(t, plan.part_db), 0, size_t(OC) * sizeof(float));
    }
    for_images(g, [&](int64_t i, int t) {
        // partial sums of this thread: dw as [kh][kw][o][c] (shifted) or [o][c][kh][kw] (im2col)
        float* dw_acc = dw ? scratch(t, plan.part_dw) : nullptr;
        float* db_acc = db ? scratch(t, plan.part_db) : nullptr;
        const float* xb = x + i * in_size;
        const float* dyb = dy + i * OC * N;
        if (y_relu) {
            float* masked = scratch(t, plan.masked);
            const float* yb = y_relu + i * OC * N;
            for (int64_t j = 0; j < OC * N; j++) masked[j] = yb[j] > 0.0f ? dyb[j] : 0.0f;
            dyb = masked;
        }
        if (db_acc)
            for (int64_t o = 0; o < OC; o++) db_acc[o] += vector_sum(dyb + o * N, N);
        if (dw_acc && plan.dw_shifted) {
            // this image goes into slot j of the group; the group's gemms run when it is full or
            // at the end of this thread's images
            int64_t i0 = 0, i1 = g.B;
            if (images_split) chunk_range(g.B, num_threads(), t, i0, i1);
            const int64_t j = (i - i0) % plan.G, filled = j + 1;
            float* a = scratch(t, plan.dw_a);
            float* xt = scratch(t, plan.dw_b);
            const int mr = plan.dw_cols.mr;
            pack_dy_rows(a, dyb, OC, N, plan.G * plan.V, j * plan.V, mr);
            pad_transpose(xt + j * plan.xt_slot, xb, C, g.H, g.W, g.pad, plan.ph, plan.xt_rows - g.stride * g.stride * plan.ph.plane);
            if (filled == plan.G || i == i1 - 1) {
                // A's packed row blocks have room for G images; for an incomplete group, move each
                // block's first filled*V columns together (ascending: a block's new place never
                // reaches the data of a later block not yet moved).
                const int64_t Kg = filled * plan.V;
                if (filled < plan.G)
                    for (int64_t m0 = mr; m0 < OC; m0 += mr)
                        std::memmove(a + m0 * Kg, a + m0 * plan.G * plan.V, size_t(Kg * mr) * sizeof(float));
                Epilogue ep;
                ep.accumulate = true;
                for (int64_t kh = 0; kh < g.KH; kh++)
                    for (int64_t kw = 0; kw < g.KW; kw++) {
                        float* part = dw_acc + (kh * g.KW + kw) * OC * C;
                        const float* b = xt + plan.ph.tap(0, kh, kw) * C;
                        for_tiles(images_split, t, plan.dw_cols.n_tiles(), [&](int64_t t0, int64_t t1, int tt) {
                            gemm_tiles(part, C, a, OC, Kg, b, dw_off, plan.dw_cols, ep, t0, t1, scratch(tt, plan.gemm_ws));
                        });
                    }
            }
        } else if (dw_acc && plan.dw_dots) {
            weight_grad_dots(dw_acc, scratch(t, plan.dw_b), scratch(t, plan.dw_a), xb, dyb, g);
        } else if (dw_acc) {  // dw (OC,K) += dy_b (OC,N) col_b^T
            const float* cb = xb;
            if (!g.pointwise()) {
                im2col(scratch(t, plan.dw_b), xb, g);
                cb = scratch(t, plan.dw_b);
            }
            gemm(false, true, OC, K, N, 1.0f, dyb, N, cb, N, 1.0f, dw_acc, K);
        }
        if (!dx) return;
        float* dxb = dx + i * in_size;
        float* bbuf = scratch(t, plan.dx_b);
        Epilogue ep;
        if (plan.dx_winograd) {  // dx_b += the transposed convolution of dy_b, by Winograd
            ep.accumulate = true;
            winograd_run(dxb, dyb, wino_u, wino_off, plan.wino, ep, 1, images_split, t,
                         [&](int tt) { return scratch(tt, plan.wino_at); });
        } else if (plan.dx_transposed) {  // dx_b (C, H*W) += w' (C, OC KH KW) times shifted views of padded dy_b
            pad_planes(bbuf, dyb, nullptr, OC, g.OH, g.OW, plan.pad_t, g.KW + kMaxNT);
            ep.accumulate = true;
            for_tiles(images_split, t, plan.dx_cols.n_tiles(), [&](int64_t t0, int64_t t1, int tt) {
                gemm_tiles(dxb, g.H * g.W, ap, C, OC * KK, bbuf, dx_off, plan.dx_cols, ep, t0, t1,
                           scratch(tt, plan.gemm_ws));
            });
        } else {  // dcol (K, Vdx) = w^T dyv, added into the phase planes of dx, which go back into dx_b
            const Phases& ph = plan.ph;
            const int64_t Vdx = plan.Vdx;
            for (int64_t o = 0; o < OC; o++)
                for (int64_t oh = 0; oh < g.OH; oh++) {
                    float* __restrict d = bbuf + o * Vdx + oh * ph.Wq;
                    const float* __restrict src = dyb + (o * g.OH + oh) * g.OW;
                    for (int64_t j = 0; j < g.OW; j++) d[j] = src[j];
                    for (int64_t j = g.OW; j < ph.Wq; j++) d[j] = 0.0f;
                }
            std::memset(bbuf + OC * Vdx, 0, size_t(kMaxNT) * sizeof(float));
            float* dcol = scratch(t, plan.dcol);
            for_tiles(images_split, t, plan.dx_cols.n_tiles(), [&](int64_t t0, int64_t t1, int tt) {
                gemm_tiles(dcol, Vdx, ap, K, OC, bbuf, dx_off, plan.dx_cols, ep, t0, t1, scratch(tt, plan.gemm_ws));
            });
            float* dxq = scratch(t, plan.dxq);
            const int64_t planes = C * g.stride * g.stride * ph.plane;
            std::memset(dxq, 0, size_t(planes + ph.Wq + g.KW + kMaxNT) * sizeof(float));
            for (int64_t c = 0; c < C; c++)
                for (int64_t kh = 0; kh < g.KH; kh++)
                    for (int64_t kw = 0; kw < g.KW; kw++) {
                        float* __restrict d = dxq + ph.tap(c, kh, kw);
                        const float* __restrict src = dcol + ((c * g.KH + kh) * g.KW + kw) * Vdx;
                        for (int64_t v = 0; v < Vdx; v++) d[v] += src[v];
                    }
            unphase_add(dxb, dxq, C, g.H, g.W, g.pad, ph);
        }
    });
    // Partial sums into dw and db, in thread order.
    for (int t = 0; t < n_parts; t++) {
        if (dw) {
            const float* part = scratch(t, plan.part_dw);
            if (plan.dw_shifted) {
                for (int64_t kk = 0; kk < KK; kk++)
                    for (int64_t o = 0; o < OC; o++)
                        for (int64_t c = 0; c < C; c++) dw[(o * C + c) * KK + kk] += part[(kk * OC + o) * C + c];
            } else {
                for (int64_t j = 0; j < OC * K; j++) dw[j] += part[j];
            }
        }
        if (db) {
            const float* part = scratch(t, plan.part_db);
            for (int64_t o = 0; o < OC; o++) db[o] += part[o];
        }
    }
}

}  // namespace kernels

Tensor conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, bool relu) {
    ENSURE(x_in.ndim() == 4, "conv2d: input must be [B, C, H, W], got ", x_in.shape());
    ENSURE(weight.ndim() == 4, "conv2d: weight must be [out, in, kh, kw], got ", weight.shape());
    ENSURE(x_in.size(1) == weight.size(1), "conv2d: input ", x_in.shape(), " has ", x_in.size(1),
           " channels but the weight ", weight.shape(), " expects ", weight.size(1));
    ENSURE(!bias.defined() || (bias.ndim() == 1 && bias.size(0) == weight.size(0)), "conv2d: bias ", bias.shape(),
           " does not match ", weight.size(0), " output channels");
    kernels::ConvGeometry g = kernels::conv_geometry(x_in.size(0), x_in.size(1), x_in.size(2), x_in.size(3),
                                                     weight.size(0), weight.size(2), weight.size(3), stride, padding);
    Tensor x = x_in.contiguous(), w = weight.contiguous();
    Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    Tensor y = Tensor::empty({g.B, g.OC, g.OH, g.OW});
    {
        Tensor ws = Tensor::empty({kernels::conv2d_forward_workspace(g, num_threads())});
        kernels::conv2d_forward(y.data(), x.data(), w.data(), nullptr, b.defined() ? b.data() : nullptr, g, relu,
                                ws.data());
    }
    if (any_requires_grad({&x, &w, &b})) {
        Tensor y_saved = relu ? y.detach() : Tensor();
        attach_grad_fn(y, relu ? "conv2d_relu" : "conv2d", {x, w, b}, [x, w, b, g, y_saved](const Tensor& dy) {
            Tensor ws = Tensor::empty({kernels::conv2d_backward_workspace(g, num_threads())});
            kernels::conv2d_backward(x.requires_grad() ? x.grad_data() : nullptr,
                                     w.requires_grad() ? w.grad_data() : nullptr,
                                     b.defined() && b.requires_grad() ? b.grad_data() : nullptr, dy.data(),
                                     y_saved.defined() ? y_saved.data() : nullptr, x.data(), w.data(), g, ws.data());
        });
    }
    return y;
}

Tensor conv2d_affine(const Tensor& x_in, const Tensor& weight, const Tensor& scale, const Tensor& shift, int64_t stride,
                     int64_t padding, bool relu) {
    ENSURE(x_in.ndim() == 4 && weight.ndim() == 4 && x_in.size(1) == weight.size(1), "conv2d_affine: input ",
           x_in.shape(), " and weight ", weight.shape(), " do not match");
    ENSURE(!any_requires_grad({&x_in, &weight, &scale, &shift}), "conv2d_affine is inference-only: it has no "
           "gradient (run it under NoGradGuard)");
    const int64_t OC = weight.size(0);
    for (const Tensor* t : {&scale, &shift})
        ENSURE(t->ndim() == 1 && t->size(0) == OC, "conv2d_affine: scale/shift ", t->shape(), " do not match ", OC,
               " output channels");
    kernels::ConvGeometry g = kernels::conv_geometry(x_in.size(0), x_in.size(1), x_in.size(2), x_in.size(3), OC,
                                                     weight.size(2), weight.size(3), stride, padding);
    Tensor x = x_in.contiguous(), w = weight.contiguous(), s = scale.contiguous(), b = shift.contiguous();
    Tensor y = Tensor::empty({g.B, g.OC, g.OH, g.OW});
    Tensor ws = Tensor::empty({kernels::conv2d_forward_workspace(g, num_threads())});
    kernels::conv2d_forward(y.data(), x.data(), w.data(), s.data(), b.data(), g, relu, ws.data());
    return y;
}

}  // namespace nn
