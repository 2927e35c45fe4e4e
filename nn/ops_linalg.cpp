// Dense linear algebra: the threaded gemm wrapper over OpenBLAS (single-threaded inside), the linear
// layer, and matmul. Forward and backward of each op sit together.
#include <cblas.h>

#include <limits>
#include <xsimd/xsimd.hpp>

#include "nn/alloc.hpp"
#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

namespace {

// y (N) = alpha * op(B)^T x + beta * y for the M == 1 case, split over output columns.
void gemv_row(bool trans_b, int64_t N, int64_t K, float alpha, const float* x, int64_t incx,
              const float* B, int64_t ldb, float beta, float* y, int64_t incy) {
    parallel_for(N, 256, [&](int64_t n0, int64_t n1) {
        if (trans_b)  // B is (N,K): y = B x
            cblas_sgemv(CblasRowMajor, CblasNoTrans, int(n1 - n0), int(K), alpha, B + n0 * ldb, int(ldb),
                        x, int(incx), beta, y + n0 * incy, int(incy));
        else  // B is (K,N): y = B^T x
            cblas_sgemv(CblasRowMajor, CblasTrans, int(K), int(n1 - n0), alpha, B + n0, int(ldb), x,
                        int(incx), beta, y + n0 * incy, int(incy));
    });
}

}  // namespace

GemmSplit choose_gemm_split(int64_t M, int64_t N, int64_t K, int threads) {
    // Below ~64k multiply-adds per thread, waking a worker costs more than it saves.
    if (threads <= 1 || M * N * K < 65536 * int64_t(threads)) return GemmSplit::none;
    // Each thread's sgemm packs the operand panels it reads, so a split repeats the packing of what
    // the threads share: rows repeat op(B) (K x N), columns repeat op(A) (M x K), and depth repeats
    // neither but writes and re-reads a partial C (M x N) per extra thread. Floats moved per extra
    // thread; the cheapest feasible split wins (ties go to rows, then columns, which need no scratch).
    const int64_t none = std::numeric_limits<int64_t>::max();
    const int64_t rows = M >= 8 * int64_t(threads) ? K * N : none;
    const int64_t cols = N >= 16 * int64_t(threads) ? M * K : none;
    const int64_t depth = K >= 256 * int64_t(threads) ? 2 * M * N : none;
    if (rows == none && cols == none && depth == none) return M >= N ? GemmSplit::rows : GemmSplit::columns;
    if (rows <= cols && rows <= depth) return GemmSplit::rows;
    return cols <= depth ? GemmSplit::columns : GemmSplit::depth;
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (M == 1) {  // C row = op(A) row * op(B)
        gemv_row(trans_b, N, K, alpha, A, trans_a ? lda : 1, B, ldb, beta, C, 1);
        return;
    }
    if (N == 1) {  // C column = op(B)^T-row... i.e. C = op(A) b: the same as a row with roles swapped
        gemv_row(!trans_a, M, K, alpha, B, trans_b ? 1 : ldb, A, lda, beta, C, ldc);
        return;
    }
    auto ta = trans_a ? CblasTrans : CblasNoTrans;
    auto tb = trans_b ? CblasTrans : CblasNoTrans;
    const int T = inside_parallel_region() ? 1 : num_threads();  // a nested product runs whole
    const GemmSplit split = choose_gemm_split(M, N, K, T);
    if (split == GemmSplit::rows) {
        parallel_for(M, (M + T - 1) / T, [&](int64_t m0, int64_t m1) {
            const float* a = trans_a ? A + m0 : A + m0 * lda;
            cblas_sgemm(CblasRowMajor, ta, tb, int(m1 - m0), int(N), int(K), alpha, a, int(lda), B, int(ldb),
                        beta, C + m0 * ldc, int(ldc));
        });
    } else if (split == GemmSplit::columns) {
        // Column slices in multiples of 16 (one AVX-512 register of C), the remainder to the last.
        const int64_t blocks = N / 16;
        parallel_run([&](int t) {
            int64_t n0, n1;
            chunk_range(blocks, T, t, n0, n1);
            n0 *= 16;
            n1 = t == T - 1 ? N : n1 * 16;
            if (n0 >= n1) return;
            const float* b = trans_b ? B + n0 * ldb : B + n0;
            cblas_sgemm(CblasRowMajor, ta, tb, int(M), int(n1 - n0), int(K), alpha, A, int(lda), b, int(ldb),
                        beta, C + n0, int(ldc));
        });
    } else if (split == GemmSplit::depth) {
        // Thread t multiplies its slice of K: thread 0 into C (with beta), the others into their own
        // M x N scratch; the partial products are then added to C in thread order, so the result
        // depends on the thread count but not on timing.
        const int64_t MN = M * N;
        const size_t bytes = size_t(T - 1) * size_t(MN) * sizeof(float);
        float* scratch = static_cast<float*>(alloc_bytes(bytes));
        parallel_run([&](int t) {
            int64_t k0, k1;
            chunk_range(K, T, t, k0, k1);
            const float* a = trans_a ? A + k0 * lda : A + k0;
            const float* b = trans_b ? B + k0 : B + k0 * ldb;
            float* c = t == 0 ? C : scratch + (t - 1) * MN;
            cblas_sgemm(CblasRowMajor, ta, tb, int(M), int(N), int(k1 - k0), alpha, a, int(lda), b, int(ldb),
                        t == 0 ? beta : 0.0f, c, int(t == 0 ? ldc : N));
        });
        parallel_for(M, std::max<int64_t>(1, 16384 / N), [&](int64_t m0, int64_t m1) {
            for (int u = 0; u < T - 1; u++)
                for (int64_t m = m0; m < m1; m++) {
                    const float* p = scratch + u * MN + m * N;
                    float* c = C + m * ldc;
                    for (int64_t n = 0; n < N; n++) c[n] += p[n];
                }
        });
        alloc_free(scratch, bytes);
    } else {
        cblas_sgemm(CblasRowMajor, ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C,
                    int(ldc));
    }
}

namespace {

// v, pinned to a register: g++ otherwise folds each load into every multiply-add that uses it,
// loading one vector of w or x up to seven times.
inline xsimd::batch<float> in_register(xsimd::batch<float> v) {
    auto r = v.data;
    asm("" : "+v"(r));
    return xsimd::batch<float>(r);
}

// y[B, OUT] += x[B, IN] w[OUT, IN]^T over rows [o0, o1) of w, for a few rows of x: R rows of w at a
// time, each vector of them loaded once and multiplied with all B rows of x (which stay in cache),
// B * R accumulators in registers. w streams from memory once, as in one sgemv; per row of w and of
// x one sum in a fixed order, so the result does not depend on the thread count.
template <int B, int R>
void skinny_rows(float* y, const float* x, const float* w, int64_t IN, int64_t OUT, int64_t o0, int64_t o1) {
    using V = xsimd::batch<float>;
    constexpr int64_t L = int64_t(V::size);
    const int64_t k_vec = IN / L * L;
    for (int64_t o = o0; o < o1; o += R) {
        V acc[R][B];
        for (int r = 0; r < R; r++)
            for (int i = 0; i < B; i++) acc[r][i] = V(0.0f);
        for (int64_t k = 0; k < k_vec; k += L) {
            V wv[R];
            for (int r = 0; r < R; r++) wv[r] = in_register(V::load_unaligned(w + (o + r) * IN + k));
            for (int i = 0; i < B; i++) {
                const V xv = in_register(V::load_unaligned(x + i * IN + k));
                for (int r = 0; r < R; r++) acc[r][i] = xsimd::fma(wv[r], xv, acc[r][i]);
            }
        }
        for (int r = 0; r < R; r++)
            for (int i = 0; i < B; i++) {
                float s = xsimd::hadd(acc[r][i]);
                for (int64_t k = k_vec; k < IN; k++) s += w[(o + r) * IN + k] * x[i * IN + k];
                y[i * OUT + o + r] += s;
            }
    }
}

// Rows of w split over the threads in multiples of R, the last < R rows one at a time.
template <int B>
void skinny(float* y, const float* x, const float* w, int64_t IN, int64_t OUT) {
    // As many rows of w (up to 4) as registers allow: B * R accumulators, R vectors of w, one of x.
    constexpr int kRegisters = xsimd::batch<float>::size >= 16 ? 32 : 16;
    constexpr int R = std::min(4, (kRegisters - 1) / (B + 1));
    const int64_t whole = OUT / R;
    parallel_for(whole, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, R * IN)), [&](int64_t g0, int64_t g1) {
        skinny_rows<B, R>(y, x, w, IN, OUT, g0 * R, g1 * R);
    });
    skinny_rows<B, 1>(y, x, w, IN, OUT, whole * R, OUT);
}

}  // namespace

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t B, int64_t IN,
                    int64_t OUT) {
    // 2 to kFewRowsMax rows: OpenBLAS's sgemm packs all of w first, and B sgemv calls read w B
    // times; skinny() reads it once per pass of up to kSkinnyRows - 1 rows. Up to a million
    // multiply-adds OpenBLAS 0.3.21 (Cooperlake core) runs a small-matrix path without packing, which
    // is faster there. Measured on Zen 5, one thread, sgemm against skinny(): 1024x1024 at 2 / 4 / 7
    // rows 358 / 368 / 484 us against 59 / 67 / 94; 300x784 at 5 rows 71.5 against 14.9 us, at 4 rows
    // (940 k multiply-adds) 11.4 against 13.3. In passes (bench --suite sparse, its x*W^T column):
    // 1024x1024 at 8 / 16 / 32 / 48 / 64 rows 416 / 466 / 646 / 735 / 915 us against 142 / 232 / 418
    // / 613 / 777; 4096x1024 at 16 / 48 / 64 rows 1820 / 2994 / 3637 against 1091 / 2813 / 3731. On
    // two threads sgemm catches up from about 48 rows (300x784: 84 against 96 us), hence 32.
    const bool few_rows = B >= 2 && B <= kFewRowsMax && B * IN * OUT > kSkinnyMinMultiplyAdds;
    if (b || few_rows) {
        parallel_for(B, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, OUT)), [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; i++)
                for (int64_t o = 0; o < OUT; o++) y[i * OUT + o] = b ? b[o] : 0.0f;
        });
    }
    if (few_rows) {
        // Passes of equal size (2 to kSkinnyRows - 1 rows each: B >= 2, and 8 or more rows make
        // passes of at least 4).
        const int64_t passes = (B + kSkinnyRows - 2) / (kSkinnyRows - 1);
        for (int64_t c = 0, r0 = 0; c < passes; c++) {
            const int64_t r1 = B * (c + 1) / passes, n = r1 - r0;
            float* yc = y + r0 * OUT;
            const float* xc = x + r0 * IN;
            switch (n) {
                case 2: skinny<2>(yc, xc, w, IN, OUT); break;
                case 3: skinny<3>(yc, xc, w, IN, OUT); break;
                case 4: skinny<4>(yc, xc, w, IN, OUT); break;
                case 5: skinny<5>(yc, xc, w, IN, OUT); break;
                case 6: skinny<6>(yc, xc, w, IN, OUT); break;
                default: skinny<7>(yc, xc, w, IN, OUT); break;
            }
            r0 = r1;
        }
        return;
    }
    gemm(false, true, B, OUT, IN, 1.0f, x, IN, w, IN, b ? 1.0f : 0.0f, y, OUT);
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     int64_t B, int64_t IN, int64_t OUT) {
    if (dx) gemm(false, false, B, IN, OUT, 1.0f, dy, OUT, w, IN, 1.0f, dx, IN);
    if (dw) gemm(true, false, OUT, IN, B, 1.0f, dy, OUT, x, IN, 1.0f, dw, IN);
    if (db) {  // column blocks per thread; each column sums its rows in order
        parallel_for(OUT, std::max<int64_t>(16, 16384 / std::max<int64_t>(1, B)), [&](int64_t o0, int64_t o1) {
            for (int64_t i = 0; i < B; i++)
                for (int64_t o = o0; o < o1; o++) db[o] += dy[i * OUT + o];
        });
    }
}

}  // namespace kernels

Tensor linear(const Tensor& x_in, const Tensor& weight, const Tensor& bias) {
    ENSURE(weight.ndim() == 2, "linear: weight must be [out, in], got ", weight.shape());
    int64_t OUT = weight.size(0), IN = weight.size(1);
    ENSURE(x_in.ndim() >= 1 && x_in.size(-1) == IN, "linear: input ", x_in.shape(), " does not end in ",
           IN, " features (weight ", weight.shape(), ")");
    ENSURE(!bias.defined() || (bias.ndim() == 1 && bias.size(0) == OUT), "linear: bias ", bias.shape(),
           " does not match ", OUT, " outputs");
    Tensor x = x_in.contiguous(), w = weight.contiguous();
    Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    int64_t B = x.numel() / IN;
    Shape out_shape = x.shape();
    out_shape[out_shape.size() - 1] = OUT;
    Tensor y = Tensor::empty(out_shape);
    kernels::linear_forward(y.data(), x.data(), w.data(), b.defined() ? b.data() : nullptr, B, IN, OUT);
    if (any_requires_grad({&x, &w, &b})) {
        attach_grad_fn(y, "linear", {x, w, b}, [x, w, b, B, IN, OUT](const Tensor& dy) {
            kernels::linear_backward(x.requires_grad() ? x.grad_data() : nullptr,
                                     w.requires_grad() ? w.grad_data() : nullptr,
                                     b.defined() && b.requires_grad() ? b.grad_data() : nullptr, dy.data(),
                                     x.data(), w.data(), B, IN, OUT);
        });
    }
    return y;
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
    ENSURE(a_in.ndim() >= 2 && a_in.ndim() == b_in.ndim(), "matmul: operands ", a_in.shape(), " and ",
           b_in.shape(), " need the same rank >= 2");
    int n = a_in.ndim();
    int64_t M = a_in.size(-2), K = a_in.size(-1), N = b_in.size(-1);
    ENSURE(b_in.size(-2) == K, "matmul: inner dimensions differ: ", a_in.shape(), " @ ", b_in.shape());
    int64_t batch = 1;
    Shape out_shape;
    for (int i = 0; i < n - 2; i++) {
        ENSURE(a_in.size(i) == b_in.size(i), "matmul: batch dimensions differ: ", a_in.shape(), " @ ", b_in.shape());
        batch *= a_in.size(i);
        out_shape.push_back(a_in.size(i));
    }
    out_shape.push_back(M);
    out_shape.push_back(N);
    Tensor a = a_in.contiguous(), b = b_in.contiguous();
    Tensor c = Tensor::empty(out_shape);
    // Batched products run one per thread chunk; a single product threads inside gemm.
    auto for_batches = [batch](const std::function<void(int64_t)>& fn) {
        if (batch == 1) return fn(0);
        parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
            for (int64_t i = b0; i < b1; i++) fn(i);
        });
    };
    for_batches([&](int64_t i) {
        kernels::gemm(false, false, M, N, K, 1.0f, a.data() + i * M * K, K, b.data() + i * K * N, N, 0.0f,
                      c.data() + i * M * N, N);
    });
    if (any_requires_grad({&a, &b})) {
        attach_grad_fn(c, "matmul", {a, b}, [a, b, M, N, K, for_batches](const Tensor& dc) {
            // dA (M,K) += dC (M,N) * B^T ; dB (K,N) += A^T * dC
            float* da = a.requires_grad() ? a.grad_data() : nullptr;
            float* db = b.requires_grad() ? b.grad_data() : nullptr;
            for_batches([&](int64_t i) {
                const float* dci = dc.data() + i * M * N;
                if (da)
                    kernels::gemm(false, true, M, K, N, 1.0f, dci, N, b.data() + i * K * N, N, 1.0f,
                                  da + i * M * K, K);
                if (db)
                    kernels::gemm(true, false, K, N, M, 1.0f, a.data() + i * M * K, K, dci, N, 1.0f,
                                  db + i * K * N, N);
            });
        });
    }
    return c;
}

}  // namespace nn
