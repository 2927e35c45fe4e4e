// Raw numeric kernels: pointers and sizes, outputs first, no allocation, no autograd. These (and
// sparse/) are the only code that calls cblas or xsimd. Shapes are given in comments with dimension
// letters. Every *_backward ADDS into its gradient outputs (see the contract in autograd.hpp).
// The definitions sit in ops_<family>.cpp next to the differentiable op that uses them.
#pragma once

#include <cstdint>

#include "nn/rng.hpp"
#include "nn/tensor.hpp"

namespace nn::kernels {

// ---- shape (ops_shape.cpp) ----
// dst[i] (=|+=) src[i] for every index i of `shape`, each side addressed through its own strides.
void strided_copy(float* dst, const Shape& dst_strides, const float* src, const Shape& src_strides,
                  const Shape& shape, bool accumulate);

// ---- dense linear algebra (ops_linalg.cpp) ----
// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, row-major with leading dimensions.
// How gemm divides one product among threads: none (too small), rows of C, columns of C, or the
// shared dimension K (partial products summed afterwards).
enum class GemmSplit { none, rows, columns, depth };
GemmSplit choose_gemm_split(int64_t M, int64_t N, int64_t K, int threads);

// Splits the product across the thread pool as choose_gemm_split says; M == 1 or N == 1 goes to
// sgemv (OpenBLAS 0.3.21 does not do that itself, and its sgemm is ~8x slower there). Results are
// deterministic for a fixed thread count; a depth split sums K in per-thread parts, so they may
// differ from one thread's in the last bits.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// y (B,OUT) = x (B,IN) * w^T (IN,OUT) + b (OUT); b may be null. One row goes to sgemv; 2 to
// kFewRowsMax rows, in products of more than kSkinnyMinMultiplyAdds, to our own kernel, which reads
// w once per pass of up to kSkinnyRows - 1 rows (OpenBLAS's sgemm packs w first); the rest to gemm.
constexpr int64_t kSkinnyRows = 8;
constexpr int64_t kFewRowsMax = 32;
constexpr int64_t kSkinnyMinMultiplyAdds = 1000000;
void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t B, int64_t IN,
                    int64_t OUT);
// dx (B,IN) += dy * w; dw (OUT,IN) += dy^T * x; db (OUT) += sum_b dy. Null outputs are skipped.
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     int64_t B, int64_t IN, int64_t OUT);

// ---- convolution (ops_conv.cpp) ----
// Geometry of a 2-D convolution over NCHW tensors: input x (B,C,H,W), weight w (OC,C,KH,KW), output
// y (B,OC,OH,OW) with OH = (H + 2 pad - KH) / stride + 1 (and the same for W). The im2col matrix of
// one image is col (K,N) with K = C*KH*KW and N = OH*OW: col[(c*KH + kh)*KW + kw][oh*OW + ow] =
// x[c][oh*stride - pad + kh][ow*stride - pad + kw] (0 outside the image), so y_b (OC,N) = w (OC,K) col.
struct ConvGeometry {
    int64_t B = 0, C = 0, H = 0, W = 0, OC = 0, KH = 0, KW = 0, stride = 1, pad = 0, OH = 0, OW = 0;
    int64_t K() const { return C * KH * KW; }
    int64_t N() const { return OH * OW; }
    // 1x1, stride 1, no padding: the image itself is its im2col matrix (no copy, straight to gemm).
    bool pointwise() const { return KH == 1 && KW == 1 && stride == 1 && pad == 0; }
};
// Fills OH, OW; throws naming the sizes when the kernel does not fit the padded input.
ConvGeometry conv_geometry(int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW,
                           int64_t stride, int64_t pad);

// col (K,N) = im2col of one image x (C,H,W); col2im_add is its adjoint: dx (C,H,W) += col2im(dcol).
void im2col(float* col, const float* x, const ConvGeometry& g);
void col2im_add(float* dx, const float* dcol, const ConvGeometry& g);

// Phase planes: the layout in which every tap of a convolution is a shift, so that no im2col matrix
// is needed. With stride s, tap (kh, kw) of output (oh, ow) reads padded input (oh s + kh, ow s + kw),
// which is element (oh + kh/s, ow + kw/s) of phase (kh % s, kw % s): phase (ph, pw) of channel c is
// the sub-image xpad[c][i s + ph][j s + pw] (Hq x Wq). Row k = (c, kh, kw) of the im2col matrix is
// then the phase planes read from offset tap(c, kh, kw) over "virtual" columns v = oh Wq + ow, of
// which those with ow >= OW are computed and dropped. With s = 1 there is one phase, the padded image.
struct Phases {
    int64_t s, Hq, Wq, plane;  // stride, phase plane size
    explicit Phases(const ConvGeometry& g)
        : s(g.stride), Hq((g.H + 2 * g.pad + g.stride - 1) / g.stride), Wq((g.W + 2 * g.pad + g.stride - 1) / g.stride),
          plane(Hq * Wq) {}
    // Floats of the phase planes of one image.
    int64_t planes(const ConvGeometry& g) const { return g.C * s * s * plane; }
    // Offset of tap (kh, kw) of channel c: phase plane, then the shift inside it.
    int64_t tap(int64_t c, int64_t kh, int64_t kw) const {
        return ((c * s + kh % s) * s + kw % s) * plane + (kh / s) * Wq + kw / s;
    }
};
// xq (C, s, s, Hq, Wq) = the phase planes of x (C,H,W) padded by p, then `slack` zeros.
void pad_phases(float* xq, const float* x, int64_t C, int64_t H, int64_t W, int64_t p, const Phases& ph, int64_t slack);
// dx (C,H,W) += the interior of the phase planes dxq (the adjoint of pad_phases).
void unphase_add(float* dx, const float* dxq, int64_t C, int64_t H, int64_t W, int64_t p, const Phases& ph);
// off[k] = tap(c, kh, kw) for every row k = (c, kh, kw) of the im2col matrix.
void phase_offsets(int32_t* off, const ConvGeometry& g, const Phases& ph);

// Floats of scratch memory conv2d_forward / conv2d_backward need with `n_threads` threads.
int64_t conv2d_forward_workspace(const ConvGeometry& g, int n_threads);
int64_t conv2d_backward_workspace(const ConvGeometry& g, int n_threads);

// y (B,OC,OH,OW) = conv(x, w) * scale (OC) + shift (OC), then max(0, .) when relu; scale null means
// 1 and shift null means 0 (shift is the bias; scale and shift together fold an eval-mode BatchNorm).
// With B >= threads, images are split across the pool (per-thread scratch); otherwise images run
// one after another and each image's output tiles are split across the pool.
void conv2d_forward(float* y, const float* x, const float* w, const float* scale, const float* shift,
                    const ConvGeometry& g, bool relu, float* workspace);
// dx (B,C,H,W) += conv^T(dy); dw (OC,C,KH,KW) += sum_b dy_b col_b^T; db (OC) += sum over b, oh, ow of dy.
// Null outputs are skipped. When y_relu is non-null, dy is first masked by y_relu > 0 (the backward of
// the fused ReLU; y_relu is the forward output). Per-thread partial sums of dw and db are added in
// thread order, so results depend on the thread count but not on timing.
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* y_relu, const float* x,
                     const float* w, const ConvGeometry& g, float* workspace);

// 3x3 stride-1 convolutions with at least 8 input and 8 output channels (padding 0..2) and at least
// `min_tiles` 2x2 output tiles over the batch run by Winograd F(2x2, 3x3): 2.25x fewer multiply-adds,
// results within float rounding of the direct product. Forward and input gradient; the weight
// gradient stays a direct gemm. On by default; set_winograd(false) makes every convolution direct,
// and tests lower min_tiles to reach small geometries.
constexpr int64_t kWinogradDefaultMinTiles = 256;
void set_winograd(bool enabled, int64_t min_tiles = kWinogradDefaultMinTiles);
bool uses_winograd(const ConvGeometry& g);

// ---- pooling (ops_pool.cpp) ----
// Windows of KH x KW over each (H,W) plane of x (P,H,W) (P = B*C planes), moved by `stride`, with
// `pad` cells of padding on every side: y (P,OH,OW).
struct PoolGeometry {
    int64_t P = 0, H = 0, W = 0, KH = 0, KW = 0, stride = 1, pad = 0, OH = 0, OW = 0;
};
PoolGeometry pool_geometry(int64_t P, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride, int64_t pad);
// Max over each window (padding never wins). Backward sends dy to the window's maximal element
// (recomputed from x, the same element the forward picked): the first maximum in row-major window
// order, except that a NaN takes over (PyTorch's rule, so NaN propagates).
void max_pool2d_forward(float* y, const float* x, const PoolGeometry& g);
void max_pool2d_backward(float* dx, const float* dy, const float* x, const PoolGeometry& g);
// The same with plain loops over every window, single-threaded: the oracle of the fast paths.
void max_pool2d_forward_reference(float* y, const float* x, const PoolGeometry& g);
void max_pool2d_backward_reference(float* dx, const float* dy, const float* x, const PoolGeometry& g);
// Mean over each window, padding counted as zeros in the divisor (PyTorch's count_include_pad=True).
void avg_pool2d_forward(float* y, const float* x, const PoolGeometry& g);
void avg_pool2d_backward(float* dx, const float* dy, const PoolGeometry& g);

// ---- batch normalisation (ops_batch_norm.cpp) ----
// Over x (B,C,HW) per channel c: training mode normalises with the batch statistics mean[c] and
// invstd[c] = 1/sqrt(var[c] + eps) (var biased, as PyTorch), which it writes out; eval mode uses
// the given statistics. y = (x - mean) * invstd * gamma + beta, then max(0, .) when relu.
void batch_norm_stats(float* mean, float* var, const float* x, int64_t B, int64_t C, int64_t HW);
void batch_norm_forward(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                        const float* beta, int64_t B, int64_t C, int64_t HW, bool relu);
// Training-mode backward (mean and invstd are functions of x): with xhat = (x - mean) invstd and
// g = dy (masked by y > 0 when y_relu is given),
//   dx += gamma invstd (g - mean(g) - xhat mean(g xhat)),  dgamma += sum g xhat,  dbeta += sum g.
// Eval-mode backward (statistics constant): dx += gamma invstd g, same dgamma and dbeta.
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* y_relu, const float* x,
                         const float* mean, const float* invstd, const float* gamma, int64_t B, int64_t C, int64_t HW,
                         bool training);

// ---- element-wise (ops_elementwise.cpp) ----
// Name of the instruction set the SIMD kernels were compiled for (xsimd's default arch, e.g. "avx512bw").
const char* simd_arch_name();
void relu_forward(float* y, const float* x, int64_t n);
void relu_backward(float* dx, const float* dy, const float* y, int64_t n);  // uses the output
void tanh_forward(float* y, const float* x, int64_t n);
void tanh_backward(float* dx, const float* dy, const float* y, int64_t n);
void sigmoid_forward(float* y, const float* x, int64_t n);
void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n);
void gelu_forward(float* y, const float* x, int64_t n);
void gelu_backward(float* dx, const float* dy, const float* x, int64_t n);  // uses the input
void exp_forward(float* y, const float* x, int64_t n);
// y (n) = a * b element-wise; da (n) += dy * b.
void mul_forward(float* y, const float* a, const float* b, int64_t n);
void mul_backward(float* da, const float* dy, const float* b, int64_t n);
// Dropout masks: m[i] = 0 with probability p, else 1/(1-p). dropout_fill draws from `rng` in order;
// dropout_mask splits [0, n) into blocks of 4096 drawn from Rng(seed).fork(block), so the mask does
// not depend on how many threads fill it.
void dropout_fill(float* m, int64_t n, float p, Rng& rng);
void dropout_mask(float* m, int64_t n, float p, uint64_t seed);
void log_forward(float* y, const float* x, int64_t n);

// ---- reductions (ops_reduce.cpp) ----
// sum of x[i]^2 over n floats (float lanes, double total); NaN or inf anywhere makes it non-finite.
double sum_squares(const float* x, int64_t n);
// sum of x[i] over n floats in SIMD lanes (a fixed order: lanes, then the tail), for short rows such
// as one image plane; g++ does not vectorise a float sum by itself (it may not reassociate).
float vector_sum(const float* x, int64_t n);

// ---- softmax and losses (ops_loss.cpp) ----
// Row-wise over the last dimension: x, y are (R,C).
void softmax_forward(float* y, const float* x, int64_t R, int64_t C);
void softmax_backward(float* dx, const float* dy, const float* y, int64_t R, int64_t C);
void log_softmax_forward(float* y, const float* x, int64_t R, int64_t C);
void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t R, int64_t C);
// probs (N,C) = softmax(logits); returns the summed loss over rows whose target != ignore_index and
// writes their count into *n_counted. Targets must be in [0, C) or ignore_index.
double cross_entropy_forward(float* probs, int64_t* n_counted, const float* logits,
                             const int64_t* target, int64_t N, int64_t C, int64_t ignore_index);
// dlogits (N,C) += scale * (probs - onehot(target)) for counted rows.
void cross_entropy_backward(float* dlogits, const float* probs, const int64_t* target, int64_t N,
                            int64_t C, int64_t ignore_index, float scale);

// ---- layer normalisation (ops_layer_norm.cpp) ----
// Row-wise over the last dimension: x, y (R,C); gamma, beta (C); mean, rstd (R) are saved for backward.
void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                        int64_t R, int64_t C, float eps);
// dx (R,C) += ...; dgamma, dbeta (C) += ... ; null outputs are skipped.
void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* gamma, int64_t R, int64_t C);

// ---- row gathers (ops_embedding.cpp) ----
// y (M,C) = rows idx[0..M) of x (N,C).
void gather_rows_forward(float* y, const float* x, const int64_t* idx, int64_t M, int64_t C);
// dx (N,C) row idx[m] += dy (M,C) row m, except where idx[m] == skip.
void gather_rows_backward(float* dx, const float* dy, const int64_t* idx, int64_t M, int64_t C, int64_t skip);

// ---- attention (ops_attention.cpp) ----
// q, k, v, out are (B,T,NH*DH) with head h in columns [h*DH, (h+1)*DH); key_bias (B,T) is 0 or -inf per
// key; head_mask (NH) or null gates each head's output. probs (B,NH,T,T) receives the softmax of
// q k^T / sqrt(DH) + key_bias (a row with every key masked is all zeros); dropped (B,NH,T,T), or null
// for no dropout, receives the probabilities after dropout (kept ones scaled by 1/(1-p)), drawn from
// Rng(dropout_seed).fork(b*NH + h). With skip_zero_heads, heads whose gate is 0 are not computed.
void attention_forward(float* out, float* probs, float* dropped, const float* q, const float* k, const float* v,
                       const float* key_bias, const float* head_mask, int64_t B, int64_t T, int64_t NH, int64_t DH,
                       float dropout_p, uint64_t dropout_seed, bool skip_zero_heads);
// dq, dk, dv (B,T,NH*DH) and dhead_mask (NH) += ... (null ones skipped); work is (B*NH,T,T) scratch.
void attention_backward(float* dq, float* dk, float* dv, float* dhead_mask, float* work, const float* dout,
                        const float* q, const float* k, const float* v, const float* probs, const float* dropped,
                        const float* head_mask, int64_t B, int64_t T, int64_t NH, int64_t DH, float dropout_p);

}  // namespace nn::kernels
