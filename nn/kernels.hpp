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
// Splits rows (or columns when M is small) across the thread pool; M == 1 or N == 1 goes to sgemv
// (OpenBLAS 0.3.21 does not do that itself, and its sgemm is ~8x slower there).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// y (B,OUT) = x (B,IN) * w^T (IN,OUT) + b (OUT); b may be null.
void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t B, int64_t IN,
                    int64_t OUT);
// dx (B,IN) += dy * w; dw (OUT,IN) += dy^T * x; db (OUT) += sum_b dy. Null outputs are skipped.
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     int64_t B, int64_t IN, int64_t OUT);

// ---- element-wise (ops_elementwise.cpp) ----
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

// ---- normalisation (ops_norm.cpp) ----
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
