// Deciding masks: golden masks from torch.nn.utils.prune (experiments/reference/prune_golden.py,
// PyTorch 1.13, hard-coded here), Python's half-to-even rounding, amount validation with PyTorch's
// messages, and invariants (exact counts, masks only shrink, structured masks zero whole groups).
#include <cmath>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "prune/pruner.hpp"
#include "prune/select.hpp"

using nn::Tensor;
using prune::Amount;

namespace {

std::vector<float> ints(std::initializer_list<int> v) { return std::vector<float>(v.begin(), v.end()); }

const std::vector<float> W34 = {5.625f, -2.0f, -5.75f, 1.25f, -0.75f, -4.5f, 0.375f, -1.875f, -2.5f, -4.375f, 4.25f, -5.875f};
const std::vector<float> W45 = {-3.125f, -2.875f, 3.0f,  -7.25f, 7.5f,   -1.125f, 2.25f, 9.625f, 1.625f, 9.0f,
                                3.625f,  4.375f,  -2.0f, -0.25f, 3.875f, 6.25f,   7.0f,  5.875f, -5.75f, 5.25f};
const std::vector<float> WC = {5.25f,  6.25f,   12.0f,   6.0f,   -18.0f,  -15.125f, 6.375f, 22.375f, 3.25f,   -3.375f,
                               23.25f, 4.25f,   -8.875f, 16.0f,  -22.75f, -12.25f,  0.625f, 2.0f,    -5.375f, 19.75f,
                               23.125f, -3.75f, 2.375f,  -13.0f, -12.375f, -15.75f, -12.625f, 7.75f, 22.875f, 12.75f,
                               -8.25f, -12.5f,  6.75f,   1.0f,   20.125f, 15.25f,   7.875f, -9.5f,   11.125f, -9.625f,
                               13.75f, 14.0f,   18.25f,  4.125f, 11.5f,   -7.5f,    -14.875f, 9.875f};

Tensor w34() { return Tensor::from_vector(W34, {3, 4}); }
Tensor w45() { return Tensor::from_vector(W45, {4, 5}); }
Tensor wc() { return Tensor::from_vector(WC, {4, 3, 2, 2}); }

int64_t zeros(const Tensor& m) {
    int64_t z = 0;
    for (float v : m.to_vector()) z += v == 0.0f;
    return z;
}

// Every element of `next` is <= the same element of `prev` (masks only shrink).
void require_shrinks(const Tensor& prev, const Tensor& next) {
    auto a = prev.to_vector(), b = next.to_vector();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); i++) REQUIRE(b[i] <= a[i]);
}

}  // namespace

TEST_CASE("round_half_even matches Python's round()", "[prune][amount]") {
    REQUIRE(prune::round_half_even(2.5) == 2);
    REQUIRE(prune::round_half_even(3.5) == 4);
    REQUIRE(prune::round_half_even(0.5) == 0);
    REQUIRE(prune::round_half_even(1.5) == 2);
    REQUIRE(prune::round_half_even(2.4999) == 2);
    REQUIRE(prune::round_half_even(2.5001) == 3);
    REQUIRE(prune::round_half_even(7.0) == 7);
    // fraction * n in double, as Python computes amount * tensor_size (from PyTorch, see golden script)
    struct Case {
        int64_t n;
        double amount;
        int64_t pruned;
    };
    for (Case c : {Case{5, 0.5, 2}, Case{7, 0.5, 4}, Case{10, 0.25, 2}, Case{10, 0.35, 4}, Case{10, 0.45, 4},
                   Case{10, 0.15, 2}, Case{4, 0.125, 0}, Case{4, 0.375, 2}, Case{3, 0.5, 2}, Case{1, 0.5, 0}}) {
        INFO("n=" << c.n << " amount=" << c.amount);
        REQUIRE(Amount::fraction(c.amount).units_to_prune(c.n) == c.pruned);
        std::vector<float> v;
        for (int64_t i = 1; i <= c.n; i++) v.push_back(float(i));
        Tensor m = prune::l1_unstructured(Tensor::from_vector(v, {1, c.n}), Amount::fraction(c.amount));
        REQUIRE(zeros(m) == c.pruned);
    }
}

TEST_CASE("amount validation follows PyTorch", "[prune][amount]") {
    using Catch::Contains;
    REQUIRE_THROWS_WITH(Amount::fraction(1.5), Contains("amount=1.5 should either be a float in the range [0, 1] or a non-negative integer"));
    REQUIRE_THROWS_WITH(Amount::fraction(-0.1), Contains("amount=-0.1 should either be a float"));
    REQUIRE_THROWS_WITH(Amount::fraction(NAN), Contains("should either be a float"));
    REQUIRE_THROWS_WITH(Amount::count(-1), Contains("amount=-1 should either be a float"));
    REQUIRE_THROWS_WITH(prune::l1_unstructured(w34(), Amount::count(13)),
                        Contains("amount=13 should be smaller than the number of parameters to prune=12"));
    REQUIRE_NOTHROW(prune::l1_unstructured(w34(), Amount::count(12)));
    REQUIRE_THROWS_WITH(prune::ln_structured(Tensor::zeros({3}), Amount::fraction(0.5), 1, 0),
                        Contains("Structured pruning can only be applied to multidimensional tensors. Found tensor of shape [3] with 1 dims"));
    REQUIRE_THROWS_WITH(prune::ln_structured(Tensor::zeros({3, 4}), Amount::fraction(0.5), 1, 2),
                        Contains("Invalid index 2 for tensor of size [3, 4]"));
    REQUIRE_THROWS_WITH(prune::ln_structured(Tensor::zeros({3, 4}), Amount::fraction(0.5), 1, -3),
                        Contains("Invalid index -3"));
    // Text reads like a Python literal: a dot or exponent makes a fraction.
    REQUIRE(Amount::parse("3", "x").is_count());
    REQUIRE(!Amount::parse("1.0", "x").is_count());
    REQUIRE(!Amount::parse("5e-1", "x").is_count());
    REQUIRE(Amount::parse("5e-1", "x").value() == 0.5);
    REQUIRE(Amount::parse("0.3", "x").str() == "0.3");
    REQUIRE(Amount::parse("1", "x").str() == "1");
    REQUIRE(Amount::parse("1.0", "x").str() == "1.0");
    REQUIRE_THROWS_WITH(Amount::parse("0.3x", "--amount"), Contains("--amount") && Contains("not a number"));
    REQUIRE_THROWS_WITH(Amount::parse("", "--amount"), Contains("empty amount"));
    REQUIRE_THROWS_WITH(Amount::parse("-2", "--amount"), Contains("non-negative integer"));
    REQUIRE_THROWS_WITH(Amount::parse("2.5", "--amount"), Contains("range [0, 1]"));
    REQUIRE_THROWS_WITH(Amount::parse("nan", "--amount"), Contains("range [0, 1]"));
    REQUIRE_THROWS_WITH(Amount::parse("99999999999999999999", "--amount"), Contains("not a number"));
}

TEST_CASE("l1_unstructured: PyTorch's masks for fractions, counts and repeated pruning", "[prune][golden]") {
    Tensor m1 = prune::l1_unstructured(w34(), Amount::fraction(0.3));
    testing::require_equal(m1.to_vector(), ints({1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1}), "0.3");
    // PyTorch scores the masked weight on a second call; ours are the same scores.
    Tensor m2 = prune::l1_unstructured(w34(), Amount::fraction(0.5), m1);
    testing::require_equal(m2.to_vector(), ints({1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1}), "then 0.5");
    Tensor m3 = prune::l1_unstructured(w34(), Amount::count(2), m2);
    testing::require_equal(m3.to_vector(), ints({0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "then 2");
    require_shrinks(m1, m2);
    require_shrinks(m2, m3);

    Tensor c5 = prune::l1_unstructured(w34(), Amount::count(5));
    testing::require_equal(c5.to_vector(), ints({1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1}), "count 5");
    Tensor c0 = prune::l1_unstructured(w34(), Amount::fraction(0.0), c5);
    testing::require_equal(c0.to_vector(), c5.to_vector(), "then 0.0");
    // Counts are exact among survivors; pruning all survivors is allowed, one more is not.
    REQUIRE(zeros(prune::l1_unstructured(w34(), Amount::count(7), c5)) == 12);
    REQUIRE_THROWS_WITH(prune::l1_unstructured(w34(), Amount::count(8), c5),
                        Catch::Contains("amount=8 should be smaller than the number of parameters to prune=7"));
}

TEST_CASE("ln_structured: PyTorch's masks for n = 1, 2, inf along dim 0 and 1", "[prune][golden]") {
    struct Case {
        double n;
        int dim;
        Amount amount;
        std::vector<float> mask;
    };
    const double inf = INFINITY;
    std::vector<Case> cases = {
        {1, 0, Amount::fraction(0.5), ints({1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1})},
        {1, 0, Amount::count(1), ints({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1})},
        {1, 1, Amount::fraction(0.5), ints({0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1})},
        {1, 1, Amount::count(1), ints({0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1})},
        {2, 0, Amount::fraction(0.5), ints({0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1})},
        {2, 0, Amount::count(1), ints({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1})},
        {2, 1, Amount::fraction(0.5), ints({0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1})},
        {2, 1, Amount::count(1), ints({0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1})},
        {inf, 0, Amount::fraction(0.5), ints({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})},
        {inf, 0, Amount::count(1), ints({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1})},
        {inf, 1, Amount::fraction(0.5), ints({0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1})},
        {inf, 1, Amount::count(1), ints({0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1})},
    };
    for (auto& c : cases) {
        INFO("n=" << c.n << " dim=" << c.dim << " amount=" << c.amount.str());
        testing::require_equal(prune::ln_structured(w45(), c.amount, c.n, c.dim).to_vector(), c.mask);
    }
}

TEST_CASE("ln_structured: repeated pruning only among surviving slices, mixed with l1", "[prune][golden]") {
    // 5 columns: 0.4 -> 2 pruned; 0.5 of the 3 left -> round(1.5) = 2 more; then l1 on survivors.
    Tensor a = prune::ln_structured(w45(), Amount::fraction(0.4), 2, 1);
    testing::require_equal(a.to_vector(), ints({0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1}), "0.4");
    Tensor b = prune::ln_structured(w45(), Amount::fraction(0.5), 2, 1, a);
    testing::require_equal(b.to_vector(), ints({0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}), "then 0.5");
    Tensor c = prune::l1_unstructured(w45(), Amount::fraction(0.25), b);
    testing::require_equal(c.to_vector(), ints({0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "then l1 0.25");
    // Structured after unstructured: a row with any survivor is still a candidate.
    Tensor d = prune::l1_unstructured(w45(), Amount::fraction(0.5));
    testing::require_equal(d.to_vector(), ints({0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1}), "l1 0.5");
    Tensor e = prune::ln_structured(w45(), Amount::count(1), 1, 0, d);
    testing::require_equal(e.to_vector(), ints({0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}), "then ln1 dim0");
}

TEST_CASE("ln_structured on conv weights [OC, IC, KH, KW]: filters, channels, last dim", "[prune][golden]") {
    const double inf = INFINITY;
    auto filt = [](std::initializer_list<int> keep) {  // rows of 12 elements per filter
        std::vector<float> m;
        for (int k : keep) m.insert(m.end(), 12, float(k));
        return m;
    };
    auto chan = [](std::initializer_list<int> keep) {  // dim 1: 3 channels of 4 per filter
        std::vector<float> m;
        for (int f = 0; f < 4; f++)
            for (int k : keep) m.insert(m.end(), 4, float(k));
        return m;
    };
    std::vector<float> last;
    for (int i = 0; i < 48; i++) last.push_back(i % 2 == 0 ? 1.0f : 0.0f);
    struct Case {
        double n;
        int dim;
        std::vector<float> mask;
    };
    std::vector<Case> cases = {
        {1, 0, filt({0, 0, 1, 1})},   {1, 1, chan({0, 1, 0})},   {1, -1, last},
        {2, 0, filt({0, 1, 1, 0})},   {2, 1, chan({0, 1, 0})},   {2, -1, last},
        {inf, 0, filt({1, 1, 0, 0})}, {inf, 1, chan({0, 0, 1})}, {inf, -1, last},
    };
    for (auto& c : cases) {
        INFO("n=" << c.n << " dim=" << c.dim);
        testing::require_equal(prune::ln_structured(wc(), Amount::fraction(0.5), c.n, c.dim).to_vector(), c.mask);
    }
}

TEST_CASE("global_unstructured: one ranking across tensors of different sizes", "[prune][golden]") {
    std::vector<Tensor> ws = {Tensor::from_vector({-7.875f, 5.625f, 6.5f, 2.125f, 9.25f, 6.875f}, {2, 3}),
                              Tensor::from_vector({-9.125f, 9.0f, -2.5f, -3.5f}, {4}),
                              Tensor::from_vector({-1.0f, 3.0f, 3.75f, -2.75f, 0.25f, 4.5f, -3.25f, 7.0f, 8.25f}, {3, 3})};
    auto m = prune::global_unstructured(ws, Amount::fraction(0.4));
    testing::require_equal(m[0].to_vector(), ints({1, 1, 1, 0, 1, 1}), "a");
    testing::require_equal(m[1].to_vector(), ints({1, 1, 0, 0}), "b");
    testing::require_equal(m[2].to_vector(), ints({0, 0, 1, 0, 0, 1, 0, 1, 1}), "c");
    auto m2 = prune::global_unstructured(ws, Amount::count(3), m);
    testing::require_equal(m2[0].to_vector(), ints({1, 0, 1, 0, 1, 1}), "then 3: a");
    testing::require_equal(m2[1].to_vector(), ints({1, 1, 0, 0}), "then 3: b");
    testing::require_equal(m2[2].to_vector(), ints({0, 0, 0, 0, 0, 0, 0, 1, 1}), "then 3: c");
    for (size_t i = 0; i < 3; i++) require_shrinks(m[i], m2[i]);
}

TEST_CASE("random pruning: exact counts, only survivors, whole slices, seeded", "[prune][invariant]") {
    Tensor w = testing::randn({20, 30}, 3);
    nn::Rng rng(5);
    Tensor m = prune::random_unstructured(w, Amount::fraction(0.3), rng);
    REQUIRE(zeros(m) == 180);
    Tensor m2 = prune::random_unstructured(w, Amount::fraction(0.5), rng, m);
    REQUIRE(zeros(m2) == 180 + 210);
    require_shrinks(m, m2);
    nn::Rng a(9), b(9);
    testing::require_equal(prune::random_unstructured(w, Amount::count(17), a).to_vector(),
                           prune::random_unstructured(w, Amount::count(17), b).to_vector(), "same seed");
    Tensor s = prune::random_structured(w, Amount::count(7), 1, rng);
    for (int64_t c = 0; c < 30; c++) {
        float first = s.at({0, c});
        for (int64_t r = 0; r < 20; r++) REQUIRE(s.at({r, c}) == first);
    }
    REQUIRE(zeros(s) == 7 * 20);
}

TEST_CASE("granularities zero whole groups: kernels, heads, whole tensor", "[prune][invariant]") {
    Tensor w = testing::randn({6, 4, 3, 3}, 11);
    prune::Grouping::Layout kl = prune::Grouping::kernels().layout(w.shape(), "conv");
    REQUIRE(kl.n_groups == 24);
    REQUIRE(kl.group_size == 9);
    prune::UnitScores u = prune::group_scores({{w, Tensor(), kl}}, prune::Reduce{2.0, false, false}, "conv");
    Tensor m = prune::expand_mask(Tensor(), w.shape(), kl, prune::decide_local(u, Amount::fraction(0.5)));
    REQUIRE(zeros(m) == 12 * 9);
    // the pruned kernels are exactly the 12 with the lowest L2 norm
    std::vector<double> norms(24, 0.0);
    for (int64_t i = 0; i < w.numel(); i++) norms[size_t(i / 9)] += double(w.data()[i]) * w.data()[i];
    std::vector<double> sorted = norms;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t k = 0; k < 24; k++) {
        bool pruned = m.data()[k * 9] == 0.0f;
        REQUIRE(pruned == (norms[size_t(k)] < sorted[12]));
        for (int64_t j = 0; j < 9; j++) REQUIRE(m.data()[k * 9 + j] == m.data()[k * 9]);
    }
    // heads: q weight [H*hd, D] = [4*3, 5] by row blocks; out projection [5, 12] by column blocks,
    // coupled so that a head is pruned in both.
    Tensor q = testing::randn({12, 5}, 1), o = testing::randn({5, 12}, 2);
    std::vector<nn::NamedTensor> params = {{"attn.q.weight", q}, {"attn.out.weight", o}};
    prune::PruneSpec spec;
    spec.amount = Amount::count(1);
    spec.reduce.p = 2.0;
    auto targets = prune::attention_head_targets({{"attn", {"attn.q.weight"}, {"attn.out.weight"}, 4}});
    prune::MaskSet masks = prune::decide_targets(targets, params, {}, spec);
    const Tensor& mq = *masks.find("attn.q.weight");
    const Tensor& mo = *masks.find("attn.out.weight");
    REQUIRE(zeros(mq) == 3 * 5);
    REQUIRE(zeros(mo) == 5 * 3);
    int64_t head = -1;
    double best = INFINITY;
    for (int64_t h = 0; h < 4; h++) {
        double s = 0;
        for (int64_t r = 3 * h; r < 3 * h + 3; r++)
            for (int64_t c = 0; c < 5; c++) s += double(q.at({r, c})) * q.at({r, c}) + double(o.at({c, r})) * o.at({c, r});
        if (s < best) best = s, head = h;
    }
    for (int64_t r = 0; r < 12; r++)
        for (int64_t c = 0; c < 5; c++) {
            REQUIRE(mq.at({r, c}) == (r / 3 == head ? 0.0f : 1.0f));
            REQUIRE(mo.at({c, r}) == (r / 3 == head ? 0.0f : 1.0f));
        }
    REQUIRE_THROWS_WITH(prune::Grouping::heads(5, 0).layout(q.shape(), "attn.q.weight"), Catch::Contains("5 heads do not divide"));
    // whole layers, globally: the layer with the lowest normalised L1 norm goes.
    std::vector<nn::NamedTensor> layers = {{"a", testing::randn({4, 4}, 1, 1.0f)},
                                           {"b", testing::randn({8, 2}, 2, 0.1f)},
                                           {"c", testing::randn({2, 2}, 3, 2.0f)}};
    prune::PruneSpec ls;
    ls.granularity = prune::Grouping::tensor();
    ls.global = true;
    ls.reduce.normalize = true;
    ls.amount = Amount::count(1);
    prune::MaskSet lm = prune::decide_masks(layers, {}, ls);
    REQUIRE(zeros(*lm.find("b")) == 16);
    REQUIRE(zeros(*lm.find("a")) == 0);
    REQUIRE(zeros(*lm.find("c")) == 0);
}

TEST_CASE("global pruning with per-layer normalisation and caps", "[prune][invariant]") {
    // Layer "big" has large weights, "small" tiny ones: plain global pruning empties "small".
    std::vector<nn::NamedTensor> params = {{"big", testing::randn({10, 10}, 1, 10.0f)},
                                           {"small", testing::randn({10, 10}, 2, 0.01f)}};
    prune::PruneSpec spec;
    spec.global = true;
    spec.amount = Amount::fraction(0.5);
    prune::MaskSet plain = prune::decide_masks(params, {}, spec);
    REQUIRE(zeros(*plain.find("small")) == 100);
    REQUIRE(zeros(*plain.find("big")) == 0);
    spec.global_options.max_sparsity = 0.8;  // at most 80 of a layer's 100 units
    prune::MaskSet capped = prune::decide_masks(params, {}, spec);
    REQUIRE(zeros(*capped.find("small")) == 80);
    REQUIRE(zeros(*capped.find("big")) == 20);
    spec.global_options = {};
    spec.global_options.min_sparsity = 0.3;
    prune::MaskSet floored = prune::decide_masks(params, {}, spec);
    REQUIRE(zeros(*floored.find("big")) == 30);
    REQUIRE(zeros(*floored.find("small")) == 70);
    spec.global_options = {};
    spec.global_options.layer_normalize = true;  // same distribution shape: about half each
    prune::MaskSet normed = prune::decide_masks(params, {}, spec);
    REQUIRE(zeros(*normed.find("big")) + zeros(*normed.find("small")) == 100);
    REQUIRE(zeros(*normed.find("big")) > 30);
    REQUIRE(zeros(*normed.find("small")) > 30);
    spec.global_options = {};
    spec.global_options.max_sparsity = 0.2;
    REQUIRE_THROWS_WITH(prune::decide_masks(params, {}, spec), Catch::Contains("allows only 40 of the 100"));
    spec.global_options = {};
    spec.global_options.min_sparsity = 0.6;
    REQUIRE_THROWS_WITH(prune::decide_masks(params, {}, spec), Catch::Contains("needs 120 units pruned"));
    // a per-layer amount takes that layer out of the global ranking
    spec.global_options = {};
    spec.layer_amounts = {{"sm*", Amount::fraction(0.1)}};
    prune::MaskSet mixed = prune::decide_masks(params, {}, spec);
    REQUIRE(zeros(*mixed.find("small")) == 10);
    REQUIRE(zeros(*mixed.find("big")) == 50);
}

TEST_CASE("saliency scores and non-finite scores", "[prune][invariant]") {
    Tensor w = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
    Tensor s = Tensor::from_vector({4, 3, 2, 1}, {2, 2});
    prune::PruneSpec spec;
    spec.scorer = prune::Scorer::Saliency;
    spec.amount = Amount::count(1);
    prune::MaskSet m = prune::decide_masks({{"w", w}}, {}, spec, {{"w", s}});
    testing::require_equal(m.find("w")->to_vector(), ints({1, 1, 1, 0}));
    REQUIRE_THROWS_WITH(prune::decide_masks({{"w", w}}, {}, spec), Catch::Contains("no saliency scores for 'w'"));
    Tensor bad = Tensor::from_vector({1, NAN, 3, 4}, {2, 2});
    REQUIRE_THROWS_WITH(prune::l1_unstructured(bad, Amount::count(1)), Catch::Contains("non-finite score"));
}

TEST_CASE("glob selection: matches, ignore lists, selectors that match nothing", "[prune][select]") {
    REQUIRE(prune::glob_match("fc*.weight", "fc1.weight"));
    REQUIRE(prune::glob_match("*", "encoder.layers.1.attn.q.weight"));
    REQUIRE(prune::glob_match("*.attn.?.weight", "encoder.layers.1.attn.q.weight"));
    REQUIRE(!prune::glob_match("fc?.weight", "fc12.weight"));
    REQUIRE(!prune::glob_match("fc1", "fc1.weight"));
    REQUIRE(prune::glob_match("a*b*c", "aXbYbZc"));
    std::vector<std::string> all = {"fc1.weight", "fc1.bias", "fc2.weight", "fc3.weight"};
    auto sel = prune::select_names(all, {"*.weight"}, {"fc3.*"}, "test");
    REQUIRE(sel == std::vector<std::string>{"fc1.weight", "fc2.weight"});
    REQUIRE_THROWS_WITH(prune::select_names(all, {"conv*"}, {}, "recipe.txt:3"),
                        Catch::Contains("recipe.txt:3") && Catch::Contains("'conv*' matches no parameter"));
    REQUIRE_THROWS_WITH(prune::select_names(all, {"*.weight"}, {"fc4.weight"}, "x"), Catch::Contains("ignore selector 'fc4.weight'"));
    REQUIRE_THROWS_WITH(prune::select_names(all, {"fc1.weight"}, {"fc1.*"}, "x"), Catch::Contains("removes every selected"));
    REQUIRE(prune::split_list(" a, b ,,c ") == std::vector<std::string>{"a", "b", "c"});
}
