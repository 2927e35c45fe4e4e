// Multi-head scaled dot-product attention (Vaswani et al. 2017, eq. 1) as one fused op: scores,
// key-padding mask, softmax, dropout on the probabilities, optional per-head gate, and the weighted
// sum of values, one (batch, head) pair per task on the thread pool. Heads are column blocks of the
// projections, so no transposed copies are made; all products go through kernels::gemm.
// Not here: the Q/K/V/output projections (plain linear ops in nn/transformer.cpp).
#include <cmath>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

namespace {

using batch = xsimd::batch<float>;
constexpr int64_t kLanes = int64_t(batch::size);

// p (T) = softmax(s + bias) where bias is 0 (attend) or -inf (masked key). A row whose keys are all
// masked becomes zeros (there is nothing to attend to) instead of the NaNs of exp(-inf - -inf).
void masked_softmax_row(float* p, const float* s, const float* bias, int64_t T) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < T; j++) mx = std::max(mx, s[j] + bias[j]);
    if (mx == -INFINITY) {
        for (int64_t j = 0; j < T; j++) p[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    int64_t j = 0;
    batch vsum(0.0f), vmx(mx);
    for (; j + kLanes <= T; j += kLanes) {
        batch e = xsimd::exp(batch::load_unaligned(s + j) + batch::load_unaligned(bias + j) - vmx);
        e.store_unaligned(p + j);
        vsum += e;
    }
    sum = xsimd::hadd(vsum);
    for (; j < T; j++) sum += (p[j] = std::exp(s[j] + bias[j] - mx));
    float inv = 1.0f / sum;
    for (j = 0; j < T; j++) p[j] *= inv;
}

}  // namespace

void attention_forward(float* out, float* probs, float* dropped, const float* q, const float* k, const float* v,
                       const float* key_bias, const float* head_mask, int64_t B, int64_t T, int64_t NH, int64_t DH,
                       float dropout_p, uint64_t dropout_seed, bool skip_zero_heads) {
    const int64_t A = NH * DH;
    const float scale = 1.0f / std::sqrt(float(DH));
    const Rng base(dropout_seed);
    parallel_for(B * NH, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t bh = t0; bh < t1; bh++) {
            const int64_t b = bh / NH, h = bh % NH;
            const float gate = head_mask ? head_mask[h] : 1.0f;
            const int64_t off = b * T * A + h * DH;
            float* P = probs + bh * T * T;
            if (gate == 0.0f && skip_zero_heads) {  // a pruned head contributes nothing
                for (int64_t i = 0; i < T * T; i++) P[i] = 0.0f;
                if (dropped)
                    for (int64_t i = 0; i < T * T; i++) dropped[bh * T * T + i] = 0.0f;
                for (int64_t t = 0; t < T; t++)
                    for (int64_t d = 0; d < DH; d++) out[off + t * A + d] = 0.0f;
                continue;
            }
            // P (T,T) = q_bh (T,DH) k_bh^T (DH,T) * scale, then masked softmax in place.
            gemm(false, true, T, T, DH, scale, q + off, A, k + off, A, 0.0f, P, T);
            const float* bias = key_bias + b * T;
            for (int64_t i = 0; i < T; i++) masked_softmax_row(P + i * T, P + i * T, bias, T);
            const float* W = P;
            if (dropped) {
                Rng rng = base.fork(uint64_t(bh));
                float* D = dropped + bh * T * T;
                dropout_fill(D, T * T, dropout_p, rng);
                for (int64_t i = 0; i < T * T; i++) D[i] *= P[i];
                W = D;
            }
            // out_bh (T,DH) = gate * W (T,T) v_bh (T,DH)
            gemm(false, false, T, DH, T, gate, W, T, v + off, A, 0.0f, out + off, A);
        }
    });
}

void attention_backward(float* dq, float* dk, float* dv, float* dhead_mask, float* work, const float* dout,
                        const float* q, const float* k, const float* v, const float* probs, const float* dropped,
                        const float* head_mask, int64_t B, int64_t T, int64_t NH, int64_t DH, float dropout_p) {
    const int64_t A = NH * DH;
    const float scale = 1.0f / std::sqrt(float(DH)), keep_scale = 1.0f / (1.0f - dropout_p);
    std::vector<double> gate_grad(dhead_mask ? size_t(B * NH) : 0, 0.0);
    parallel_for(B * NH, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t bh = t0; bh < t1; bh++) {
            const int64_t b = bh / NH, h = bh % NH;
            const float gate = head_mask ? head_mask[h] : 1.0f;
            if (gate == 0.0f && !dhead_mask) continue;
            const int64_t off = b * T * A + h * DH;
            const float* P = probs + bh * T * T;
            const float* W = dropped ? dropped + bh * T * T : P;  // the weights that multiplied v
            float* dW = work + bh * T * T;
            // dW (T,T) = dout_bh (T,DH) v_bh^T, without the gate
            gemm(false, true, T, T, DH, 1.0f, dout + off, A, v + off, A, 0.0f, dW, T);
            if (dhead_mask) {  // d gate = sum(dout_bh * out_bh) / gate = sum(dW * W)
                double s = 0.0;
                for (int64_t i = 0; i < T * T; i++) s += double(dW[i]) * double(W[i]);
                gate_grad[size_t(bh)] = s;
            }
            if (gate == 0.0f) continue;
            // dv_bh (T,DH) += gate * W^T dout_bh
            if (dv) gemm(true, false, T, DH, T, gate, W, T, dout + off, A, 1.0f, dv + off, A);
            if (!dq && !dk) continue;
            // dP = gate * dW (through dropout: kept entries scaled, dropped ones zero), then the softmax
            // Jacobian: dS = P * (dP - sum_j dP P) * scale. Masked keys have P = 0, so dS = 0 there.
            for (int64_t i = 0; i < T; i++) {
                float* d = dW + i * T;
                const float* p = P + i * T;
                const float* w = W + i * T;
                if (dropped) {
                    for (int64_t j = 0; j < T; j++) d[j] = w[j] != 0.0f ? gate * keep_scale * d[j] : 0.0f;
                } else {
                    for (int64_t j = 0; j < T; j++) d[j] *= gate;
                }
                float dot = 0.0f;
                for (int64_t j = 0; j < T; j++) dot += d[j] * p[j];
                for (int64_t j = 0; j < T; j++) d[j] = p[j] * (d[j] - dot) * scale;
            }
            // dq_bh += dS k_bh ; dk_bh += dS^T q_bh
            if (dq) gemm(false, false, T, DH, T, 1.0f, dW, T, k + off, A, 1.0f, dq + off, A);
            if (dk) gemm(true, false, T, DH, T, 1.0f, dW, T, q + off, A, 1.0f, dk + off, A);
        }
    });
    if (dhead_mask)
        for (int64_t h = 0; h < NH; h++) {
            double s = 0.0;
            for (int64_t b = 0; b < B; b++) s += gate_grad[size_t(b * NH + h)];
            dhead_mask[h] += float(s);
        }
}

}  // namespace kernels

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, int64_t n_heads, const IntTensor& key_mask,
                 const Tensor& head_mask_in, float dropout_p, bool training, Rng& rng) {
    ENSURE(q_in.ndim() == 3 && q_in.shape() == k_in.shape() && q_in.shape() == v_in.shape(),
           "attention: q, k, v must all be [B, T, heads * head_dim], got ", q_in.shape(), ", ", k_in.shape(), ", ",
           v_in.shape());
    const int64_t B = q_in.size(0), T = q_in.size(1), A = q_in.size(2);
    ENSURE(n_heads > 0 && A % n_heads == 0, "attention: width ", A, " is not divisible into ", n_heads, " heads");
    const int64_t NH = n_heads, DH = A / NH;
    ENSURE(key_mask.numel() == 0 || key_mask.shape == Shape({B, T}), "attention: key mask ", key_mask.shape,
           " does not match [", B, ", ", T, "]");
    ENSURE(!head_mask_in.defined() || (head_mask_in.ndim() == 1 && head_mask_in.size(0) == NH),
           "attention: head mask ", head_mask_in.shape(), " must be [", NH, "]");
    ENSURE(dropout_p >= 0.0f && dropout_p < 1.0f, "attention: dropout probability must be in [0, 1), got ", dropout_p);
    Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    Tensor head_mask = head_mask_in.defined() ? head_mask_in.contiguous() : Tensor();
    // Key padding as an additive bias of 0 or -inf (never a large finite stand-in).
    Tensor key_bias = Tensor::zeros({B, T});
    for (int64_t i = 0; i < key_mask.numel(); i++)
        if (key_mask[i] == 0) key_bias.data()[i] = -INFINITY;
        else ENSURE(key_mask[i] == 1, "attention: key mask values must be 0 or 1, got ", key_mask[i]);
    const bool use_dropout = training && dropout_p > 0.0f;
    const bool needs_grad = any_requires_grad({&q, &k, &v, &head_mask});
    Tensor out = Tensor::empty({B, T, A});
    Tensor probs = Tensor::empty({B, NH, T, T});
    Tensor dropped = use_dropout ? Tensor::empty({B, NH, T, T}) : Tensor();
    uint64_t seed = use_dropout ? rng.next_u64() : 0;
    kernels::attention_forward(out.data(), probs.data(), use_dropout ? dropped.data() : nullptr, q.data(), k.data(),
                               v.data(), key_bias.data(), head_mask.defined() ? head_mask.data() : nullptr, B, T, NH, DH,
                               dropout_p, seed, !(head_mask.defined() && needs_grad && head_mask.requires_grad()));
    if (needs_grad) {
        attach_grad_fn(out, "attention", {q, k, v, head_mask},
                       [q, k, v, head_mask, probs, dropped, B, T, NH, DH, dropout_p](const Tensor& dout) {
                           Tensor work = Tensor::empty({B * NH, T, T});
                           bool hm_grad = head_mask.defined() && head_mask.requires_grad();
                           kernels::attention_backward(
                               q.requires_grad() ? q.grad_data() : nullptr, k.requires_grad() ? k.grad_data() : nullptr,
                               v.requires_grad() ? v.grad_data() : nullptr, hm_grad ? head_mask.grad_data() : nullptr,
                               work.data(), dout.data(), q.data(), k.data(), v.data(), probs.data(),
                               dropped.defined() ? dropped.data() : nullptr,
                               head_mask.defined() ? head_mask.data() : nullptr, B, T, NH, DH, dropout_p);
                       });
    }
    return out;
}

}  // namespace nn
