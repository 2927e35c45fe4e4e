// sparse/: CSR formats (round trips, malformed matrices rejected) and every kernel of the registry
// against its scalar reference over awkward sizes, batch widths and sparsities, on 1 and 2 threads.
#include <cmath>
#include <cstring>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/threads.hpp"
#include "sparse/csr.hpp"
#include "sparse/kernels.hpp"

using nn::Tensor;
namespace sk = sparse::kernels;

namespace {

// A [rows, cols] matrix whose entries are non-zero with probability 1 - sparsity; with
// `empty_rows`, every third row is cleared.
Tensor random_sparse(int64_t rows, int64_t cols, double sparsity, uint64_t seed, bool empty_rows = false) {
    nn::Rng rng(seed);
    Tensor w = Tensor::zeros({rows, cols});
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            if (!(empty_rows && r % 3 == 1) && rng.uniform() >= sparsity) w.data()[r * cols + c] = rng.normal();
    return w;
}

std::vector<float> random_vector(int64_t n, uint64_t seed) {
    nn::Rng rng(seed);
    std::vector<float> v(size_t(std::max<int64_t>(n, 1)));
    for (auto& x : v) x = rng.normal();
    return v;
}

// Each element of `got` against `want` within 1e-5 of the sum of the magnitudes of the terms that
// produced it (`scale`), which bounds float rounding of either summation order; a missing or extra
// term is far outside that.
void require_close_scaled(const std::vector<float>& got, const std::vector<float>& want,
                          const std::vector<float>& scale, const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); i++) {
        double tol = 1e-5 * (1.0 + double(scale[i]));
        if (!(std::fabs(double(got[i]) - double(want[i])) <= tol)) {
            INFO(what << ": element " << i << ": " << got[i] << " vs reference " << want[i] << " (tolerance " << tol
                      << ")");
            REQUIRE(false);
        }
    }
}

struct Case {
    int64_t M, K, N;
    double sparsity;
    bool empty_rows;
};

// Random operands of one op for W, the reference result and the per-output scale; then every
// variant of the op runs on a copy of the initial output and is compared.
template <class Index>
void check_variants(sk::Op op, const sparse::CsrMatrix<Index>& W, const Case& c, bool accumulate, bool with_bias,
                    uint64_t seed, int& n_checked, bool batch_major = false) {
    const int64_t M = W.rows, K = W.cols, N = op == sk::Op::spmv ? 1 : c.N;
    const int64_t lda_pad = 3, ldo_pad = 5;  // leading dimensions wider than the rows
    sk::Operands p;
    p.w = sk::ref(W);
    p.N = N;
    p.accumulate = accumulate;
    p.batch_major = batch_major;
    std::vector<float> a, b, out, bias = random_vector(M, seed + 3);
    std::vector<float> scale;  // per output: sum of |terms| (plus |initial| and |bias|)
    const float* val = W.values.data();
    auto col = [&](int32_t j) { return int64_t(W.col_idx[size_t(j)]); };
    switch (op) {
        case sk::Op::spmv:
        case sk::Op::spmm: {
            // Feature-major X [K, N], Y [M, N]; batch-major X [N, K], Y [N, M].
            int64_t lda = op == sk::Op::spmv ? 1 : (batch_major ? K : N) + lda_pad;
            int64_t ldo = op == sk::Op::spmv ? 1 : (batch_major ? M : N) + ldo_pad;
            a = random_vector((batch_major ? N : K) * lda, seed + 1);
            out = random_vector((batch_major ? N : M) * ldo, seed + 2);
            p.a = a.data(), p.lda = lda, p.ldo = ldo;
            p.bias = with_bias ? bias.data() : nullptr;
            scale.assign(out.size(), 0.0f);
            auto xi = [&](int64_t k, int64_t n) { return size_t(batch_major ? n * lda + k : k * lda + n); };
            auto yi = [&](int64_t m, int64_t n) { return size_t(batch_major ? n * ldo + m : m * ldo + n); };
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    float s = std::fabs(accumulate ? out[yi(m, n)] : 0.0f) + (with_bias ? std::fabs(bias[size_t(m)]) : 0.0f);
                    for (int32_t j = W.row_ptr[size_t(m)]; j < W.row_ptr[size_t(m) + 1]; j++)
                        s += std::fabs(val[j] * a[xi(col(j), n)]);
                    scale[yi(m, n)] = s;
                }
            break;
        }
        case sk::Op::spmmt: {
            int64_t lda = N + lda_pad, ldo = N + ldo_pad;
            a = random_vector(M * lda, seed + 1);
            out = random_vector(K * ldo, seed + 2);
            p.a = a.data(), p.lda = lda, p.ldo = ldo;
            scale.assign(out.size(), 0.0f);
            for (size_t i = 0; i < out.size(); i++) scale[i] = std::fabs(out[i]);
            for (int64_t m = 0; m < M; m++)
                for (int32_t j = W.row_ptr[size_t(m)]; j < W.row_ptr[size_t(m) + 1]; j++)
                    for (int64_t n = 0; n < N; n++)
                        scale[size_t(col(j) * ldo + n)] += std::fabs(val[j] * a[size_t(m * lda + n)]);
            break;
        }
        case sk::Op::sddmm: {
            int64_t lda = N + lda_pad, ldb = N + ldo_pad;
            a = random_vector(M * lda, seed + 1);
            b = random_vector(K * ldb, seed + 4);
            out = random_vector(W.nnz(), seed + 2);
            out.resize(size_t(W.nnz()));
            p.a = a.data(), p.lda = lda, p.b = b.data(), p.ldb = ldb;
            scale.assign(out.size(), 0.0f);
            for (int64_t m = 0; m < M; m++)
                for (int32_t j = W.row_ptr[size_t(m)]; j < W.row_ptr[size_t(m) + 1]; j++) {
                    float s = std::fabs(out[size_t(j)]);
                    for (int64_t n = 0; n < N; n++)
                        s += std::fabs(a[size_t(m * lda + n)] * b[size_t(col(j) * ldb + n)]);
                    scale[size_t(j)] = s;
                }
            break;
        }
    }
    const sk::IndexWidth ix = sizeof(Index) == 4 ? sk::IndexWidth::i32 : sk::IndexWidth::u16;
    std::vector<float> want = out;
    p.out = want.data();
    sk::reference(op, ix).run(p);
    for (const sk::Kernel& k : sk::registry()) {
        if (k.op != op || k.index != ix || k.isa == sk::Isa::scalar || !sk::isa_available(k.isa)) continue;
        std::string what = std::string(k.name) + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                           " N=" + std::to_string(N) + " sparsity=" + std::to_string(c.sparsity) +
                           (c.empty_rows ? " empty-rows" : "") + (accumulate ? " accumulate" : "") +
                           (with_bias ? " bias" : "") + (batch_major ? " batch-major" : "");
        std::vector<float> got = out;
        p.out = got.data();
        k.run(p);
        require_close_scaled(got, want, scale, what);
        // Padding between rows (past the row length in each leading dimension) is never written.
        if (op == sk::Op::spmm || op == sk::Op::spmmt) {
            int64_t row_len = batch_major ? M : N, n_padding_changed = 0;
            for (size_t i = 0; i < got.size(); i++) n_padding_changed += int64_t(i) % p.ldo >= row_len && got[i] != out[i];
            INFO(what);
            REQUIRE(n_padding_changed == 0);
        }
        n_checked++;
    }
}

}  // namespace

TEST_CASE("sparse csr: from_dense, to_dense and index widths round trip", "[sparse]") {
    Tensor w = random_sparse(17, 33, 0.7, 1);
    sparse::Csr m = sparse::from_dense(w);
    m.validate();
    int64_t nz = 0;
    for (float v : w.to_vector()) nz += v != 0.0f;
    REQUIRE(m.nnz() == nz);
    testing::require_equal(sparse::to_dense(m).to_vector(), w.to_vector(), "csr32");
    sparse::Csr16 m16 = sparse::to_csr16(m);
    m16.validate();
    testing::require_equal(sparse::to_dense(m16).to_vector(), w.to_vector(), "csr16");
    testing::require_equal(sparse::to_dense(sparse::to_csr32(m16)).to_vector(), w.to_vector(), "csr16 -> csr32");
    REQUIRE(m.bytes() == m.nnz() * 8 + 18 * 4);
    REQUIRE(m16.bytes() == m.nnz() * 6 + 18 * 4);
    REQUIRE(sparse::csr_bytes(17, m.nnz()) == m.bytes());
    REQUIRE(sparse::csr16_bytes(17, m.nnz()) == m16.bytes());
}

TEST_CASE("sparse csr: golden pattern of a small matrix", "[sparse]") {
    // [[0 2 0 0]
    //  [0 0 0 0]
    //  [1 0 0 3]]
    Tensor w = Tensor::from_vector({0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3}, {3, 4});
    sparse::Csr m = sparse::from_dense(w);
    REQUIRE(m.row_ptr == std::vector<int32_t>{0, 1, 1, 3});
    REQUIRE(m.col_idx == std::vector<int32_t>{1, 0, 3});
    REQUIRE(m.values.to_vector() == std::vector<float>{2, 1, 3});
    std::vector<int32_t> perm;
    sparse::Csr t = sparse::transpose(m, &perm);  // [[0 0 1] [2 0 0] [0 0 0] [0 0 3]]
    REQUIRE(t.rows == 4);
    REQUIRE(t.cols == 3);
    REQUIRE(t.row_ptr == std::vector<int32_t>{0, 1, 2, 2, 3});
    REQUIRE(t.col_idx == std::vector<int32_t>{2, 0, 2});
    REQUIRE(t.values.to_vector() == std::vector<float>{1, 2, 3});
    REQUIRE(perm == std::vector<int32_t>{1, 0, 2});
}

TEST_CASE("sparse csr: a mask keeps its positions even where the weight is zero", "[sparse]") {
    Tensor w = Tensor::from_vector({0, 5, 7, 0}, {2, 2});
    Tensor mask = Tensor::from_vector({1, 1, 0, 0}, {2, 2});
    sparse::Csr m = sparse::from_dense(w, mask);
    REQUIRE(m.nnz() == 2);
    REQUIRE(m.col_idx == std::vector<int32_t>{0, 1});
    REQUIRE(m.values.to_vector() == std::vector<float>{0, 5});  // 7 is masked out, the zero kept
    testing::require_equal(sparse::pattern_mask(m).to_vector(), mask.to_vector(), "pattern");
    REQUIRE_THROWS_WITH(sparse::from_dense(w, Tensor::ones({4})), Catch::Contains("does not match"));
    REQUIRE_THROWS_WITH(sparse::from_dense(Tensor::ones({4})), Catch::Contains("rank >= 2"));
}

TEST_CASE("sparse csr: rank-4 weights flatten to [out, rest]; empty and all-zero matrices", "[sparse]") {
    Tensor conv = random_sparse(8, 3 * 3 * 3, 0.5, 2).reshape({8, 3, 3, 3});
    sparse::Csr m = sparse::from_dense(conv);
    REQUIRE(m.rows == 8);
    REQUIRE(m.cols == 27);
    testing::require_equal(sparse::to_dense(m).to_vector(), conv.to_vector(), "conv");
    sparse::Csr z = sparse::from_dense(Tensor::zeros({5, 6}));
    z.validate();
    REQUIRE(z.nnz() == 0);
    REQUIRE(z.row_ptr == std::vector<int32_t>(6, 0));
    sparse::Csr e = sparse::from_dense(Tensor::zeros({0, 6}));
    e.validate();
    REQUIRE(e.rows == 0);
    REQUIRE(e.cols == 6);
}

TEST_CASE("sparse csr: transpose twice is the identity and perm maps values", "[sparse]") {
    Tensor w = random_sparse(33, 17, 0.8, 3, true);
    sparse::Csr m = sparse::from_dense(w);
    std::vector<int32_t> perm;
    sparse::Csr t = sparse::transpose(m, &perm);
    t.validate();
    testing::require_equal(sparse::to_dense(t).to_vector(), w.transpose(0, 1).contiguous().to_vector(), "transpose");
    for (size_t i = 0; i < perm.size(); i++) REQUIRE(t.values.data()[i] == m.values.data()[perm[i]]);
    sparse::Csr tt = sparse::transpose(t);
    REQUIRE(tt.row_ptr == m.row_ptr);
    REQUIRE(tt.col_idx == m.col_idx);
    testing::require_equal(tt.values.to_vector(), m.values.to_vector(), "values");
    sparse::Csr16 t16 = sparse::transpose(sparse::to_csr16(m));
    testing::require_equal(sparse::to_dense(t16).to_vector(), sparse::to_dense(t).to_vector(), "csr16 transpose");
}

TEST_CASE("sparse csr: validate rejects each kind of malformed matrix", "[sparse]") {
    auto good = [] { return sparse::from_dense(Tensor::from_vector({1, 0, 2, 0, 3, 4}, {2, 3})); };
    // rows: [1 . 2], [. 3 4] -> row_ptr {0, 2, 4}, cols {0, 2, 1, 2}
    REQUIRE_NOTHROW(good().validate("w"));
    auto rejects = [](const sparse::Csr& m, const std::string& expected) {
        REQUIRE_THROWS_WITH(m.validate("layer.weight"), Catch::Contains("layer.weight") && Catch::Contains(expected));
    };
    {
        sparse::Csr m = good();
        m.row_ptr.pop_back();
        rejects(m, "row_ptr has 2 entries");
    }
    {
        sparse::Csr m = good();
        m.row_ptr[0] = 1;
        rejects(m, "row_ptr[0] is 1");
    }
    {
        sparse::Csr m = good();
        m.row_ptr = {0, 5, 4};
        rejects(m, "row_ptr decreases at row 1 (5 then 4)");
    }
    {
        sparse::Csr m = good();
        m.row_ptr[2] = 3;
        rejects(m, "row_ptr ends at 3 but there are 4 entries");
    }
    {
        sparse::Csr m = good();
        m.col_idx[1] = 3;
        rejects(m, "column 3 is outside [0, 3)");
    }
    {
        sparse::Csr m = good();
        m.col_idx[0] = -1;
        rejects(m, "column -1 is outside");
    }
    {
        sparse::Csr m = good();
        m.col_idx = {2, 0, 1, 2};
        rejects(m, "must be sorted and unique");
    }
    {
        sparse::Csr m = good();
        m.col_idx = {0, 2, 2, 2};
        rejects(m, "column 2 does not follow column 2");
    }
    {
        sparse::Csr m = good();
        m.values = Tensor::zeros({3});
        rejects(m, "values for 4 column indices");
    }
    {
        sparse::Csr m = good();
        m.rows = -1;
        rejects(m, "negative shape");
    }
    {
        sparse::Csr16 m = sparse::to_csr16(good());
        m.cols = 70000;
        REQUIRE_THROWS_WITH(m.validate("w16"), Catch::Contains("16-bit column indices"));
    }
    REQUIRE_THROWS_WITH(sparse::to_csr16(sparse::from_dense(Tensor::zeros({1, 70000}))),
                        Catch::Contains("do not fit 16-bit"));
}

TEST_CASE("sparse kernels: the registry names every op, index width and ISA", "[sparse]") {
    for (sk::Op op : {sk::Op::spmv, sk::Op::spmm, sk::Op::spmmt, sk::Op::sddmm})
        for (sk::IndexWidth ix : {sk::IndexWidth::i32, sk::IndexWidth::u16}) {
            REQUIRE(sk::reference(op, ix).isa == sk::Isa::scalar);
            const sk::Kernel& b = sk::best(op, ix, 64);
            REQUIRE(sk::isa_available(b.isa));
            REQUIRE(b.op == op);
            REQUIRE(b.index == ix);
            for (sk::Isa isa : {sk::Isa::avx2, sk::Isa::avx512}) {
                int n = 0;
                for (auto& k : sk::registry()) n += k.op == op && k.index == ix && k.isa == isa;
                REQUIRE(n >= 1);
            }
        }
    for (auto& k : sk::registry()) {
        REQUIRE(sk::find(k.name) == &k);
        REQUIRE(std::string(k.name).rfind(sk::op_name(k.op), 0) == 0);
        REQUIRE(std::string(k.name).find(sk::isa_name(k.isa)) != std::string::npos);
        REQUIRE(std::string(k.name).find(k.index == sk::IndexWidth::i32 ? "csr32" : "csr16") != std::string::npos);
    }
    REQUIRE(sk::find("no_such_kernel") == nullptr);
}

TEST_CASE("lockstep plan: every entry once, chunks of four rows longest first, zero padding", "[sparse]") {
    for (int64_t slice : {0, 100, 128, 1000}) {
        Tensor w = random_sparse(130, 700, 0.7, 3, /*empty_rows=*/true);
        sparse::Csr m = sparse::from_dense(w);
        for (bool compact : {false, true}) {
            sparse::Csr16 m16 = sparse::to_csr16(m);
            const sk::CsrRef r = compact ? sk::ref(m16) : sk::ref(m);
            const sk::LockstepPlan lp = sk::build_lockstep(r, slice);
            INFO("slice " << slice << (compact ? " csr16" : " csr32"));
            REQUIRE(lp.matches(r));
            REQUIRE(lp.slice == (slice ? std::min<int64_t>(slice, 256) : 128));  // density 0.3: 128-column slices
            int64_t span = 0;  // 1 + the largest column index
            for (int32_t c : m.col_idx) span = std::max<int64_t>(span, c + 1);
            REQUIRE(lp.span == span);
            REQUIRE(lp.blocks() == (130 + sk::kLockstepBlockRows - 1) / sk::kLockstepBlockRows);
            REQUIRE(lp.segments.size() == size_t(lp.blocks() * lp.slices() + 1));
            REQUIRE(lp.chunk_entries.size() == lp.chunk_rows.size() / 4 + 1);
            REQUIRE(lp.offset.size() == lp.val.size());
            REQUIRE(lp.bytes() > 0);
            // Rebuild W from the real entries; padding entries hold 0.
            std::vector<float> dense(size_t(130 * 700), 0.0f);
            int64_t real = 0;
            for (int64_t b = 0; b < lp.blocks(); b++)
                for (int64_t s = 0; s < lp.slices(); s++)
                    for (int32_t c = lp.segments[size_t(b * lp.slices() + s)]; c < lp.segments[size_t(b * lp.slices() + s + 1)]; c++) {
                        const int32_t e0 = lp.chunk_entries[size_t(c)], e1 = lp.chunk_entries[size_t(c) + 1];
                        REQUIRE((e1 - e0) % 4 == 0);
                        REQUIRE(e1 > e0);
                        int64_t previous = INT64_MAX;
                        for (int r = 0; r < 4; r++) {
                            const uint8_t row = lp.chunk_rows[size_t(c) * 4 + size_t(r)];
                            int64_t count = 0;
                            for (int32_t e = e0 + r; e < e1; e += 4) {
                                if (row == sk::kLockstepNoRow) {
                                    REQUIRE(lp.val[size_t(e)] == 0.0f);
                                    continue;
                                }
                                const int64_t k = s * lp.slice + lp.offset[size_t(e)];
                                REQUIRE(lp.offset[size_t(e)] < lp.slice);
                                REQUIRE(k < 700);
                                float& d = dense[size_t((b * sk::kLockstepBlockRows + row) * 700 + k)];
                                if (lp.val[size_t(e)] != 0.0f) {
                                    REQUIRE(d == 0.0f);  // each entry once
                                    d = lp.val[size_t(e)];
                                    real++, count++;
                                }
                            }
                            if (row != sk::kLockstepNoRow) {
                                REQUIRE(count <= previous);  // longest first
                                previous = count;
                            }
                        }
                    }
            REQUIRE(real == m.nnz());
            testing::require_equal(dense, w.to_vector(), "W rebuilt from its lockstep plan");
        }
    }
}

TEST_CASE("lockstep: run() uses a given plan, and a plan of another matrix is not used", "[sparse]") {
    if (!sk::isa_available(sk::Isa::avx2)) return;
    Tensor w = random_sparse(100, 600, 0.8, 4), other = random_sparse(100, 600, 0.5, 5);
    sparse::Csr m = sparse::from_dense(w), o = sparse::from_dense(other);
    const int64_t N = 70;
    Tensor x = testing::randn({600, N}, 6), bias = testing::randn({100}, 7);
    sk::Operands p;
    p.w = sk::ref(m), p.N = N, p.a = x.data(), p.lda = N, p.ldo = N, p.bias = bias.data();
    std::vector<float> want(size_t(100 * N)), got(size_t(100 * N));
    p.out = want.data();
    sk::reference(sk::Op::spmm, sk::IndexWidth::i32).run(p);
    const sk::LockstepPlan mine = sk::build_lockstep(sk::ref(m)), theirs = sk::build_lockstep(sk::ref(o));
    float top = 0;
    for (float v : want) top = std::max(top, std::fabs(v));
    auto require_close = [&](const std::string& what) { testing::require_close(got, want, 1e-5f * top, 1e-5f, what); };
    for (const sk::LockstepPlan* plan : {&mine, &theirs}) {
        p.lockstep = plan, p.out = got.data();
        sk::run(sk::Op::spmm, p);
        require_close(plan == &mine ? "own plan" : "another matrix's plan");
    }
    // Each ISA's lockstep variant over the given plan (run() takes only the widest one here).
    int n_lockstep = 0;
    for (const sk::Kernel& k : sk::registry()) {
        if (!std::strstr(k.name, "_lockstep") || k.index != sk::IndexWidth::i32 || !sk::isa_available(k.isa)) continue;
        p.lockstep = &mine;
        std::fill(got.begin(), got.end(), 0.0f);
        k.run(p);
        require_close(k.name);
        n_lockstep++;
    }
    REQUIRE(n_lockstep >= 1);
}

TEST_CASE("sparse kernels: every variant matches its scalar reference", "[sparse]") {
    const int64_t sizes[] = {1, 7, 17, 33, 257};
    const int64_t batches[] = {1, 3, 16, 65};
    const double sparsities[] = {0.0, 0.5, 0.9, 0.99, 1.0};
    int threads = GENERATE(1, 2);
    nn::set_num_threads(threads);
    int n_checked = 0;
    uint64_t seed = 10;
    for (int64_t M : sizes)
        for (int64_t K : sizes)
            for (double s : sparsities)
                for (bool empty_rows : {false, true}) {
                    if (empty_rows && (s != 0.5 || M < 7)) continue;
                    sparse::Csr W = sparse::from_dense(random_sparse(M, K, s, seed++, empty_rows));
                    sparse::Csr16 W16 = sparse::to_csr16(W);
                    for (sk::Op op : {sk::Op::spmv, sk::Op::spmm, sk::Op::spmmt, sk::Op::sddmm})
                        for (int64_t N : batches) {
                            if (op == sk::Op::spmv && N != 1) continue;
                            // Accumulation and bias on a rotating subset keeps the sweep quick.
                            bool accumulate = (seed + N) % 2 == 0, bias = (seed + N) % 3 != 0;
                            Case c{M, K, N, s, empty_rows};
                            check_variants(op, W, c, accumulate, bias, seed * 7 + N, n_checked);
                            check_variants(op, W16, c, accumulate, bias, seed * 7 + N + 1, n_checked);
                            if (op == sk::Op::spmm) {  // our Linear's layout
                                check_variants(op, W, c, !accumulate, bias, seed * 7 + N + 2, n_checked, true);
                                check_variants(op, W16, c, accumulate, !bias, seed * 7 + N + 3, n_checked, true);
                            }
                        }
                }
    nn::set_num_threads(1);
    REQUIRE(n_checked > 1000);
}

TEST_CASE("sparse kernels: wide batches (packed column panels) match the reference", "[sparse]") {
    int threads = GENERATE(1, 2);
    nn::set_num_threads(threads);
    int n_checked = 0;
    for (int64_t N : {128, 257, 300}) {
        // Many entries per column (>= 32, so the feature-major panels are packed) and few.
        sparse::Csr P = sparse::from_dense(random_sparse(257, 33, 0.5, 70 + N));
        REQUIRE(P.nnz() >= 32 * 33);
        check_variants(sk::Op::spmm, P, Case{257, 33, N, 0.5, false}, N % 2 == 0, true, 4 + N, n_checked);
        sparse::Csr W = sparse::from_dense(random_sparse(65, 257, 0.9, 77 + N));
        check_variants(sk::Op::spmm, W, Case{65, 257, N, 0.9, false}, N % 2 == 1, true, 5 + N, n_checked);
        check_variants(sk::Op::spmm, sparse::to_csr16(W), Case{65, 257, N, 0.9, false}, false, false, 6 + N, n_checked);
        check_variants(sk::Op::spmm, W, Case{65, 257, N, 0.9, false}, true, true, 7 + N, n_checked, true);
    }
    nn::set_num_threads(1);
    REQUIRE(n_checked >= 36);
}

TEST_CASE("sparse kernels: narrow batches (2 to 8 columns, and the last columns of wide ones) match the reference",
          "[sparse]") {
    // Widths of 4 and 8 lanes or less run through narrow tiles: 2-8 columns alone; 12 = 8 + 4 and
    // 20 = 16 + 4 feature-major; 68 and 70 after a full 64-column tile (the lockstep one included).
    int threads = GENERATE(1, 2);
    nn::set_num_threads(threads);
    int n_checked = 0;
    uint64_t seed = 900;
    for (double s : {0.5, 0.9})
        for (int64_t N : {2, 4, 5, 6, 8, 12, 20, 68, 70}) {
            sparse::Csr W = sparse::from_dense(random_sparse(129, 600, s, seed++));
            Case c{129, 600, N, s, false};
            check_variants(sk::Op::spmm, W, c, N % 2 == 0, true, seed * 3, n_checked);
            check_variants(sk::Op::spmm, sparse::to_csr16(W), c, N % 2 == 1, N % 3 != 0, seed * 3 + 1, n_checked);
            check_variants(sk::Op::spmm, W, c, N % 2 == 1, true, seed * 3 + 2, n_checked, true);
            check_variants(sk::Op::spmm, sparse::to_csr16(W), c, N % 2 == 0, false, seed * 3 + 2, n_checked, true);
        }
    nn::set_num_threads(1);
    REQUIRE(n_checked >= 2 * 9 * 4 * 4);
}

TEST_CASE("sparse kernels: an all-zero matrix gives exactly the bias (or leaves the output)", "[sparse]") {
    sparse::Csr W = sparse::from_dense(Tensor::zeros({33, 17}));
    std::vector<float> x = random_vector(17 * 16, 1), bias = random_vector(33, 2);
    for (const sk::Kernel& k : sk::registry()) {
        if (!sk::isa_available(k.isa) || k.index != sk::IndexWidth::i32) continue;
        sk::Operands p;
        p.w = sk::ref(W);
        p.N = k.op == sk::Op::spmv ? 1 : 16;
        p.a = x.data(), p.lda = 16, p.b = x.data(), p.ldb = 16, p.ldo = 16, p.bias = bias.data();
        std::vector<float> out(33 * 16, 7.0f);
        p.out = out.data();
        k.run(p);
        INFO(k.name);
        for (int64_t m = 0; m < 33; m++)
            for (int64_t n = 0; n < p.N; n++) {
                float expected = (k.op == sk::Op::spmv || k.op == sk::Op::spmm) ? bias[size_t(m)] : 7.0f;
                REQUIRE(out[size_t(m * (p.N == 1 ? 1 : 16) + n)] == expected);
            }
    }
}

TEST_CASE("sparse kernels: golden spmm, spmmt and sddmm on a 3x4 matrix", "[sparse]") {
    // W = [[0 2 0 0], [0 0 0 0], [1 0 0 3]], X = [[1 2], [3 4], [5 6], [7 8]] (K=4, N=2)
    sparse::Csr W = sparse::from_dense(Tensor::from_vector({0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3}, {3, 4}));
    std::vector<float> X = {1, 2, 3, 4, 5, 6, 7, 8}, G = {1, -1, 2, 0, 0.5f, 1};
    for (const sk::Kernel& k : sk::registry()) {
        if (!sk::isa_available(k.isa) || k.index != sk::IndexWidth::i32) continue;
        INFO(k.name);
        sk::Operands p;
        p.w = sk::ref(W);
        p.N = 2;
        if (k.op == sk::Op::spmm) {
            std::vector<float> Y(6, -1.0f);
            p.a = X.data(), p.lda = 2, p.out = Y.data(), p.ldo = 2;
            k.run(p);  // W X = [[6 8], [0 0], [22 26]]
            REQUIRE(Y == std::vector<float>{6, 8, 0, 0, 22, 26});
        } else if (k.op == sk::Op::spmmt) {
            std::vector<float> D(8, 1.0f);
            p.a = G.data(), p.lda = 2, p.out = D.data(), p.ldo = 2;
            k.run(p);  // 1 + W^T G = 1 + [[0.5 1], [2 -2], [0 0], [1.5 3]]
            REQUIRE(D == std::vector<float>{1.5f, 2, 3, -1, 1, 1, 2.5f, 4});
        } else if (k.op == sk::Op::sddmm) {
            std::vector<float> dv = {10, 20, 30};
            p.a = G.data(), p.lda = 2, p.b = X.data(), p.ldb = 2, p.out = dv.data();
            k.run(p);  // entries (0,1): g0.x1 = 3-4; (2,0): g2.x0 = 0.5+2; (2,3): g2.x3 = 3.5+8
            REQUIRE(dv == std::vector<float>{9, 22.5f, 41.5f});
        } else {
            std::vector<float> x = {1, 3, 5, 7}, y(3, 0.0f), b = {0.5f, 1, 2};
            p.N = 1, p.a = x.data(), p.out = y.data(), p.bias = b.data();
            k.run(p);  // W x + b = [6.5, 1, 24]
            REQUIRE(y == std::vector<float>{6.5f, 1, 24});
        }
    }
}

TEST_CASE("sparse kernels: transpose of awkward blocks with leading dimensions", "[sparse]") {
    for (int64_t R : {1, 7, 8, 17, 65})
        for (int64_t C : {1, 8, 9, 63, 64, 130}) {
            std::vector<float> src = random_vector(R * (C + 2), R * 1000 + C), dst(size_t(C * (R + 3)), -5.0f);
            sk::transpose(dst.data(), R + 3, src.data(), C + 2, R, C);
            for (int64_t c = 0; c < C; c++) {
                for (int64_t r = 0; r < R; r++) REQUIRE(dst[size_t(c * (R + 3) + r)] == src[size_t(r * (C + 2) + c)]);
                for (int64_t r = R; r < R + 3; r++) REQUIRE(dst[size_t(c * (R + 3) + r)] == -5.0f);
            }
        }
}

TEST_CASE("sparse kernels: stream_x_rows sums X's row of every entry, over awkward widths and a strided X",
          "[sparse]") {
    // The bench's bound column: out[n] = sum over W's entries of X[col, n]. Widths cover the four-vector
    // tile (64 and 128 lanes with AVX-512), single vectors, and scalar columns after them.
    for (int64_t N : {1, 3, 8, 16, 17, 33, 64, 65, 130})
        for (double s : {0.0, 0.9, 1.0}) {
            const int64_t K = 37, lda = N + 5;
            sparse::Csr W = sparse::from_dense(random_sparse(19, K, s, uint64_t(N * 10 + s * 10)));
            std::vector<float> X = random_vector(K * lda, uint64_t(N + 3));
            std::vector<float> want(static_cast<size_t>(N)), scale(want), got(want.size() + 1, -7.0f);
            for (int64_t n = 0; n < N; n++) {
                double sum = 0, mag = 0;
                for (int64_t j = 0; j < W.nnz(); j++) {
                    sum += X[size_t(W.col_idx[size_t(j)] * lda + n)];
                    mag += std::fabs(X[size_t(W.col_idx[size_t(j)] * lda + n)]);
                }
                want[size_t(n)] = float(sum), scale[size_t(n)] = float(mag);
            }
            sparse::Csr16 W16 = sparse::to_csr16(W);
            for (sk::CsrRef w : {sk::ref(W), sk::ref(W16)}) {
                sk::Operands p;
                p.w = w, p.N = N, p.a = X.data(), p.lda = lda, p.out = got.data();
                sk::stream_x_rows(p);
                INFO("N = " << N << ", sparsity " << s << ", " << (w.index == sk::IndexWidth::i32 ? "csr32" : "csr16"));
                REQUIRE(got[size_t(N)] == -7.0f);  // nothing past the N outputs
                require_close_scaled(std::vector<float>(got.begin(), got.begin() + N), want, scale, "stream_x_rows");
            }
        }
}

TEST_CASE("sparse kernels: column indices as offsets into one buffer (row stride 1, rows overlapping)",
          "[sparse]") {
    // The direct sparse convolution's use of the kernels: row k of the dense operand is buffer + col[k],
    // so rows overlap. spmm reads X so (lda = 1), spmmt adds into D so (ldo = 1), sddmm reads X so
    // (ldb = 1); every variant against the reference, on 1 and 2 threads.
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        for (int64_t N : {16, 48, 80, 272})
            for (double sparsity : {0.0, 0.5, 0.9}) {
                const int64_t M = 37, K = 29, span = 3 * N + 41;  // offsets in [0, span), the buffer span + N
                sparse::Csr W = sparse::from_dense(random_sparse(M, K, sparsity, uint64_t(N) * 7 + threads));
                nn::Rng rng(uint64_t(N) + 11);
                for (auto& c : W.col_idx) c = int32_t(rng.uniform() * double(span));
                std::vector<float> buf = random_vector(span + N, 5), G = random_vector(M * N, 6);
                const std::string what = "N=" + std::to_string(N) + " sparsity=" + std::to_string(sparsity) +
                                         " threads=" + std::to_string(threads);
                for (sk::Op op : {sk::Op::spmm, sk::Op::spmmt, sk::Op::sddmm}) {
                    sk::Operands p;
                    p.w = sk::ref(W);
                    p.N = N;
                    std::vector<float> init = op == sk::Op::spmm    ? std::vector<float>(size_t(M * N), 0.0f)
                                              : op == sk::Op::spmmt ? random_vector(span + N, 7)
                                                                    : random_vector(W.nnz(), 8);
                    if (op == sk::Op::spmm) p.a = buf.data(), p.lda = 1, p.ldo = N;
                    if (op == sk::Op::spmmt) p.a = G.data(), p.lda = N, p.ldo = 1;
                    if (op == sk::Op::sddmm) p.a = G.data(), p.lda = N, p.b = buf.data(), p.ldb = 1;
                    std::vector<float> want = init;
                    p.out = want.data();
                    sk::reference(op, sk::IndexWidth::i32).run(p);
                    // Every output sums at most nnz terms of magnitude ~|N(0,1)|^2: a loose absolute
                    // bound on rounding, far below a missing or doubled term.
                    const float tol = 1e-4f * float(std::max<int64_t>(1, W.nnz()));
                    int n_checked = 0;
                    for (const sk::Kernel& k : sk::registry()) {
                        if (k.op != op || k.index != sk::IndexWidth::i32 || k.isa == sk::Isa::scalar ||
                            !sk::isa_available(k.isa))
                            continue;
                        std::vector<float> got = init;
                        p.out = got.data();
                        k.run(p);
                        testing::require_close(got, want, tol, 1e-5f, std::string(k.name) + " " + what);
                        n_checked++;
                    }
                    REQUIRE(n_checked > 0);
                }
            }
    }
    nn::set_num_threads(1);
}
