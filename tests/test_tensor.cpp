// Tensor storage, views, the caching allocator, the thread pool and the RNG.
#include <cmath>
#include <set>

#include "helpers.hpp"
#include "nn/alloc.hpp"
#include "nn/check.hpp"
#include "nn/threads.hpp"

using nn::Shape;
using nn::Tensor;

TEST_CASE("tensor: shape, strides and element access", "[tensor]") {
    Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
    REQUIRE(t.shape() == Shape{2, 3});
    REQUIRE(t.strides() == Shape{3, 1});
    REQUIRE(t.numel() == 6);
    REQUIRE(t.at({1, 2}) == 5.0f);
    REQUIRE(t.size(-1) == 3);
    REQUIRE_THROWS_AS(t.at({2, 0}), nn::Error);
    REQUIRE_THROWS_AS(Tensor::from_vector({1, 2, 3}, {2, 2}), nn::Error);
    REQUIRE(nn::to_string(Shape{4, 5}) == "[4, 5]");
}

TEST_CASE("tensor: transpose is a view; contiguous copies in logical order", "[tensor]") {
    Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
    Tensor tt = t.transpose(0, 1);
    REQUIRE(tt.shape() == Shape{3, 2});
    REQUIRE_FALSE(tt.is_contiguous());
    REQUIRE(tt.data() == t.data());  // shares storage
    REQUIRE(tt.at({2, 1}) == 5.0f);
    REQUIRE(tt.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
    Tensor c = tt.contiguous();
    REQUIRE(c.is_contiguous());
    REQUIRE(c.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
    t.data()[0] = 42.0f;  // the view sees writes to the base; the copy does not
    REQUIRE(tt.at({0, 0}) == 42.0f);
    REQUIRE(c.at({0, 0}) == 0.0f);
}

TEST_CASE("tensor: reshape infers -1 and rejects bad sizes", "[tensor]") {
    Tensor t = Tensor::zeros({4, 6});
    REQUIRE(t.reshape({2, -1, 3}).shape() == Shape{2, 4, 3});
    REQUIRE(t.flatten(0).shape() == Shape{24});
    REQUIRE_THROWS_AS(t.reshape({5, -1}), nn::Error);
    REQUIRE_THROWS_AS(t.reshape({-1, -1}), nn::Error);
    // reshape of a transposed view must copy in logical order
    Tensor a = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
    REQUIRE(a.transpose(0, 1).reshape({6}).to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("tensor: narrow and permute views", "[tensor]") {
    Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {2, 3, 2});
    Tensor n = t.narrow(1, 1, 2);
    REQUIRE(n.shape() == Shape{2, 2, 2});
    REQUIRE(n.to_vector() == std::vector<float>{2, 3, 4, 5, 8, 9, 10, 11});
    Tensor p = t.permute({2, 0, 1});
    REQUIRE(p.shape() == Shape{2, 2, 3});
    REQUIRE(p.at({1, 1, 2}) == t.at({1, 2, 1}));
    REQUIRE_THROWS_AS(t.narrow(1, 2, 2), nn::Error);
    REQUIRE_THROWS_AS(t.permute({0, 0, 1}), nn::Error);
}

TEST_CASE("allocator: freed blocks are reused without new system allocations", "[tensor][alloc]") {
    { Tensor warm = Tensor::empty({1000, 1000}); }
    nn::AllocStats before = nn::alloc_stats();
    for (int i = 0; i < 10; i++) {
        Tensor t = Tensor::empty({1000, 1000});
        t.data()[0] = 1.0f;
    }
    nn::AllocStats after = nn::alloc_stats();
    REQUIRE(after.n_alloc - before.n_alloc == 10);
    REQUIRE(after.n_system == before.n_system);
}

TEST_CASE("allocator: a smaller request reuses a cached block of at most twice its size", "[tensor][alloc]") {
    nn::alloc_release_cached();
    nn::AllocStats before = nn::alloc_stats();
    { Tensor big = Tensor::empty({1000, 1000}); }
    nn::AllocStats cached = nn::alloc_stats();
    REQUIRE(cached.n_system == before.n_system + 1);
    {
        Tensor smaller = Tensor::empty({600, 1000});  // 2.4 MB: served by the 4 MB block
        smaller.data()[599999] = 1.0f;
        REQUIRE(nn::alloc_stats().n_system == cached.n_system);
    }
    // The borrowed block went back to its own class: the full size is served from the cache again,
    // and nothing is counted as live.
    { Tensor again = Tensor::empty({1000, 1000}); REQUIRE(nn::alloc_stats().n_system == cached.n_system); }
    REQUIRE(nn::alloc_stats().bytes_live == before.bytes_live);
    // Less than half the cached size goes to the system instead of wasting the block.
    { Tensor tiny = Tensor::empty({400, 1000}); REQUIRE(nn::alloc_stats().n_system == cached.n_system + 1); }
}

TEST_CASE("rng: deterministic, golden first values, unbiased ranges", "[rng]") {
    nn::Rng a(42), b(42);
    for (int i = 0; i < 100; i++) REQUIRE(a.next_u64() == b.next_u64());
    // splitmix64 of seed 0 is the published first output 0xe220a8397b1dcdaf.
    uint64_t x = 0;
    REQUIRE(nn::splitmix64(x) == 0xe220a8397b1dcdafULL);
    nn::Rng r(7);
    double sum = 0, sum_sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float v = r.normal();
        sum += v;
        sum_sq += double(v) * v;
    }
    REQUIRE(std::fabs(sum / n) < 0.01);
    REQUIRE(std::fabs(sum_sq / n - 1.0) < 0.02);
    int counts[3] = {};
    for (int i = 0; i < 30000; i++) counts[r.below(3)]++;
    for (int c : counts) REQUIRE(std::abs(c - 10000) < 500);
    float u_min = 1, u_max = 0;
    for (int i = 0; i < 10000; i++) {
        float u = r.uniform();
        u_min = std::min(u_min, u);
        u_max = std::max(u_max, u);
    }
    REQUIRE(u_min >= 0.0f);
    REQUIRE(u_max < 1.0f);
}

TEST_CASE("rng: permutation is a permutation and forks are independent of the parent's use", "[rng]") {
    nn::Rng r(3);
    auto p = r.permutation(1000);
    std::set<int64_t> s(p.begin(), p.end());
    REQUIRE(s.size() == 1000);
    REQUIRE(*s.begin() == 0);
    REQUIRE(*s.rbegin() == 999);
    nn::Rng base(5);
    nn::Rng f1 = base.fork(1), f2 = base.fork(2), f1b = base.fork(1);
    REQUIRE(f1.next_u64() == f1b.next_u64());
    REQUIRE(base.fork(1).next_u64() != f2.next_u64());
}

TEST_CASE("threads: parallel_for covers the range exactly once with deterministic chunks", "[threads]") {
    for (int threads : {1, 2, 3}) {
        nn::set_num_threads(threads);
        std::vector<int> hits(1001, 0);
        nn::parallel_for(1001, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; i++) hits[size_t(i)]++;
        });
        for (int h : hits) REQUIRE(h == 1);
        int64_t b, e;
        nn::chunk_range(10, 3, 0, b, e);
        REQUIRE((b == 0 && e == 4));
        nn::chunk_range(10, 3, 2, b, e);
        REQUIRE((b == 7 && e == 10));
    }
    nn::set_num_threads(1);
}

TEST_CASE("tensor: zeros and fill_ on the thread pool reach every element", "[tensor][threads]") {
    // sizes around the parallel grain (65536) and odd tails; the buffers are reused dirty from the
    // allocator's cache, so a chunk left unwritten would show
    for (int threads : {1, 2, 3}) {
        nn::set_num_threads(threads);
        for (int64_t n : {int64_t(1), int64_t(65535), int64_t(65536 * 2 + 7), int64_t(1000003)}) {
            nn::Tensor t = nn::Tensor::full({n}, 3.5f);
            t = nn::Tensor();
            nn::Tensor z = nn::Tensor::zeros({n});
            int64_t bad = 0;
            for (int64_t i = 0; i < n; i++) bad += z.data()[i] != 0.0f || std::signbit(z.data()[i]);
            REQUIRE(bad == 0);
            z.fill_(-0.0f);
            for (int64_t i = 0; i < n; i++) bad += !(z.data()[i] == 0.0f && std::signbit(z.data()[i]));
            z.fill_(2.25f);
            for (int64_t i = 0; i < n; i++) bad += z.data()[i] != 2.25f;
            REQUIRE(bad == 0);
        }
    }
    nn::set_num_threads(1);
}

TEST_CASE("check: errors carry the message, the condition and the location", "[check]") {
    try {
        int got = 3;
        ENSURE(got == 4, "expected 4, got ", got);
        FAIL("ENSURE did not throw");
    } catch (const nn::Error& e) {
        std::string m = e.what();
        REQUIRE(m.find("expected 4, got 3") == 0);
        REQUIRE(m.find("got == 4") != std::string::npos);
        REQUIRE(m.find("test_tensor.cpp") != std::string::npos);
    }
}
