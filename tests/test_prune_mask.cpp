// Masks and their enforcement, schedules and rewinding: pruned weights stay exactly zero through
// SGD with momentum and weight decay and through AdamW (weights, gradients and optimizer state are
// masked), masks survive checkpoints, iterative rounds compound to the target, AGP follows the
// cubic, and rewinding restores theta_0 exactly on the survivors.
#include <cmath>
#include <filesystem>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/optim.hpp"
#include "nn/trainer.hpp"
#include "prune/mask.hpp"
#include "prune/pruner.hpp"
#include "prune/report.hpp"
#include "prune/schedule.hpp"
#include "prune/scorers.hpp"

using nn::Tensor;
using prune::Amount;

namespace {

data::ImageDataset synthetic(int64_t n, uint64_t seed) {
    data::ImageDataset d;
    d.images = testing::randn({n, 1, 28, 28}, seed);
    nn::Tensor proj = testing::randn({784, 10}, 12345);
    d.labels = nn::argmax_rows(nn::matmul(d.images.reshape({n, 784}), proj));
    return d;
}

// Masks pruning half of every weight matrix of `model` by magnitude.
prune::MaskSet half_pruned(const nn::Module& model) {
    auto params = model.named_parameters();
    prune::PruneSpec spec;
    spec.amount = Amount::fraction(0.5);
    return prune::decide_masks(prune::pick(params, prune::default_prunable(params)), {}, spec);
}

// Largest |value| at masked positions of every masked parameter, its gradient and optimizer state.
float max_masked(const prune::MaskSet& masks, const nn::Optimizer& opt) {
    float worst = 0.0f;
    auto check = [&](const Tensor& t, const Tensor& m) {
        if (!t.defined()) return;
        for (int64_t i = 0; i < t.numel(); i++)
            if (m.data()[i] == 0.0f) worst = std::max(worst, std::fabs(t.data()[i]));
    };
    for (size_t i = 0; i < opt.params().size(); i++) {
        const Tensor* m = masks.find(opt.params()[i].first);
        if (!m) continue;
        check(opt.params()[i].second, *m);
        check(opt.params()[i].second.grad(), *m);
        for (auto& [buf, t] : opt.param_state(i)) check(t, *m);
    }
    return worst;
}

// 50 steps of `opt` on random batches, enforcing (or not) after each step; returns the worst masked value.
float train_steps(nn::Module& net, nn::Optimizer& opt, const prune::MaskSet& masks, bool enforce) {
    data::ImageDataset d = synthetic(64, 3);
    data::DataLoader loader(d, 16, true, 1);
    float worst = 0.0f;
    for (int step = 0; step < 50; step++) {
        data::Batch b = loader.batch(step % loader.n_batches());
        opt.zero_grad();
        nn::cross_entropy(net.forward(b.x), b.y).backward();
        opt.step();
        if (enforce) masks.enforce(opt);
        worst = std::max(worst, max_masked(masks, opt));
    }
    return worst;
}

int64_t count_zeros(const Tensor& t) {
    int64_t z = 0;
    for (float v : t.to_vector()) z += v == 0.0f;
    return z;
}

}  // namespace

TEST_CASE("masks are validated: shape and 0/1 values", "[prune][mask][bad-input]") {
    prune::MaskSet m;
    REQUIRE_THROWS_WITH(m.set("fc1.weight", Tensor::ones({2, 3}), nn::Shape{3, 2}),
                        Catch::Contains("mask of 'fc1.weight' has shape [2, 3], the parameter has [3, 2]"));
    REQUIRE_THROWS_WITH(m.set("w", Tensor::from_vector({1, 0.5f}, {2})), Catch::Contains("holds 0.5 at flat index 1"));
    REQUIRE_THROWS_WITH(m.set("w", Tensor::from_vector({NAN, 1}, {2})), Catch::Contains("a mask must be 0 or 1"));
    REQUIRE_NOTHROW(m.set("w", Tensor::from_vector({-0.0f, 1}, {2})));
    REQUIRE(m.n_kept() == 1);
    REQUIRE(prune::mask_name("fc1.weight") == "fc1.weight_mask");
    REQUIRE(prune::param_of_mask("fc1.weight_mask") == "fc1.weight");
    REQUIRE(prune::param_of_mask("fc1.weight").empty());
    REQUIRE(prune::param_of_mask("_mask").empty());
    auto net = nn::make_model("lenet300:hidden=16-8", 1);
    prune::MaskSet bad;
    bad.set("fc9.weight", Tensor::ones({2, 2}));
    REQUIRE_THROWS_WITH(bad.apply(*net), Catch::Contains("mask for 'fc9.weight' but the model has no parameter"));
}

TEST_CASE("pruned weights stay exactly zero through 50 SGD momentum + weight decay steps", "[prune][mask][invariant]") {
    for (bool nesterov : {false, true}) {
        auto net = nn::make_model("lenet300:hidden=16-8", 2);
        prune::MaskSet masks = half_pruned(*net);
        masks.apply(*net);
        nn::SGDOptions o;
        o.lr = 0.05f;
        o.momentum = 0.9f;
        o.weight_decay = 5e-3f;
        o.nesterov = nesterov;
        nn::SGD opt(net->named_parameters(), o);
        REQUIRE(train_steps(*net, opt, masks, true) == 0.0f);
        REQUIRE(opt.param_state(0).size() == 1);  // the momentum buffer exists and was checked
        // Without enforcement the momentum and decay bring pruned weights back: the check can fail.
        auto net2 = nn::make_model("lenet300:hidden=16-8", 2);
        masks.apply(*net2);
        nn::SGD opt2(net2->named_parameters(), o);
        REQUIRE(train_steps(*net2, opt2, masks, false) > 0.0f);
    }
}

TEST_CASE("pruned weights stay exactly zero through 50 AdamW steps", "[prune][mask][invariant]") {
    auto net = nn::make_model("lenet300:hidden=16-8", 3);
    prune::MaskSet masks = half_pruned(*net);
    masks.apply(*net);
    nn::AdamOptions o;
    o.lr = 1e-2f;
    o.weight_decay = 1e-2f;
    o.decoupled = true;
    nn::Adam opt(net->named_parameters(), o);
    REQUIRE(train_steps(*net, opt, masks, true) == 0.0f);
    REQUIRE(opt.param_state(0).size() == 2);  // exp_avg and exp_avg_sq exist and were checked
    auto net2 = nn::make_model("lenet300:hidden=16-8", 3);
    masks.apply(*net2);
    nn::Adam opt2(net2->named_parameters(), o);
    REQUIRE(train_steps(*net2, opt2, masks, false) > 0.0f);
}

TEST_CASE("masks through the trainer: gradients masked, resume keeps masks", "[prune][mask][trainer]") {
    data::ImageDataset d = synthetic(128, 1), v = synthetic(32, 2);
    nn::TrainConfig c;
    c.epochs = 2;
    c.batch_size = 32;
    c.lr = 0.05f;
    c.weight_decay = 1e-3f;
    c.clip_grad_norm = 1.0f;
    c.progress = false;
    std::string dir = "test-prune-trainer";
    std::filesystem::remove_all(dir);
    c.out_dir = dir;
    auto net = nn::make_model("lenet300:hidden=16-8", 4);
    prune::MaskSet masks = half_pruned(*net);
    masks.apply(*net);
    nn::Trainer t(*net, c, d, &v);
    prune::attach_masks(t, masks, *net);
    float worst_grad = 0.0f;
    auto inner = t.after_backward;
    t.after_backward = [&](int64_t s) {
        inner(s);
        for (auto& [name, m] : masks.masks()) {
            Tensor g = net->parameter(name).grad();
            for (int64_t i = 0; i < m.numel(); i++)
                if (m.data()[i] == 0.0f) worst_grad = std::max(worst_grad, std::fabs(g.data()[i]));
        }
    };
    t.fit();
    REQUIRE(worst_grad == 0.0f);
    REQUIRE(max_masked(masks, t.optimizer()) == 0.0f);
    // The checkpoint carries the masks; a fresh trainer resuming from it gets them back.
    prune::MaskSet restored;
    auto net2 = nn::make_model("lenet300:hidden=16-8", 5);
    nn::Trainer t2(*net2, c, d, &v);
    prune::attach_masks(t2, restored, *net2);
    REQUIRE(t2.resume());
    REQUIRE(restored.size() == masks.size());
    for (auto& [name, m] : masks.masks()) testing::require_equal(restored.find(name)->to_vector(), m.to_vector(), name);
    std::filesystem::remove_all(dir);
}

TEST_CASE("masks in files: <name>_mask, shape checks, unknown parameters", "[prune][mask][bad-input]") {
    auto net = nn::make_model("lenet300:hidden=16-8", 1);
    prune::MaskSet masks = half_pruned(*net);
    nn::st::File f;
    masks.put(f);
    REQUIRE(f.contains("fc1.weight_mask"));
    REQUIRE(f.contains("fc3.weight_mask"));
    prune::MaskSet back = prune::MaskSet::from_file(f, net->named_parameters(), "m.safetensors");
    REQUIRE(back.names() == masks.names());
    f.put("fc7.weight_mask", Tensor::ones({2, 2}));
    REQUIRE_THROWS_WITH(prune::MaskSet::from_file(f, net->named_parameters(), "m.safetensors"),
                        Catch::Contains("m.safetensors") && Catch::Contains("no 'fc7.weight'"));
    f.remove("fc7.weight_mask");
    f.put("fc1.bias_mask", Tensor::ones({3}));
    REQUIRE_THROWS_WITH(prune::MaskSet::from_file(f, net->named_parameters(), "m.safetensors"),
                        Catch::Contains("m.safetensors") && Catch::Contains("has shape [3], the parameter has [16]"));
}

TEST_CASE("custom_from_mask, remove, is_pruned", "[prune][mask]") {
    auto net = nn::make_model("lenet300:hidden=16-8", 1);
    prune::MaskSet masks;
    REQUIRE(!prune::is_pruned(masks, *net));
    Tensor w = net->parameter("fc3.weight");
    Tensor m1 = Tensor::ones(w.shape()), m2 = Tensor::ones(w.shape());
    m1.data()[0] = 0.0f;
    m2.data()[1] = 0.0f;
    prune::custom_from_mask(masks, *net, "fc3.weight", m1);
    prune::custom_from_mask(masks, *net, "fc3.weight", m2);  // combined with the first
    REQUIRE(prune::is_pruned(masks, *net));
    REQUIRE(masks.find("fc3.weight")->data()[0] == 0.0f);
    REQUIRE(masks.find("fc3.weight")->data()[1] == 0.0f);
    REQUIRE(count_zeros(*masks.find("fc3.weight")) == 2);
    REQUIRE(w.data()[0] == 0.0f);
    REQUIRE(w.data()[1] == 0.0f);
    float kept = w.data()[2];
    prune::remove(masks, *net, "fc3.weight");
    REQUIRE(!prune::is_pruned(masks, *net));
    REQUIRE(w.data()[0] == 0.0f);
    REQUIRE(w.data()[2] == kept);
    REQUIRE_THROWS_WITH(prune::remove(masks, *net, "fc3.weight"), Catch::Contains("has no mask to remove"));
    REQUIRE_THROWS_WITH(prune::custom_from_mask(masks, *net, "fc3.weight", Tensor::ones({2})), Catch::Contains("has shape [2]"));
}

TEST_CASE("iterative rounds compound to the target sparsity", "[prune][schedule]") {
    REQUIRE(prune::iterative_rate(0.0, 3) == 0.0);
    REQUIRE(std::fabs(prune::iterative_rate(0.875, 3) - 0.5) < 1e-12);
    REQUIRE_THROWS_WITH(prune::iterative_rate(0.5, 0), Catch::Contains("rounds must be >= 1"));
    Tensor w = testing::randn({100, 100}, 7);
    for (int rounds : {1, 2, 5, 12}) {
        prune::ScheduledStep step;
        step.name = "it";
        step.params = {"w"};
        step.spec.amount = Amount::fraction(0.92);
        step.schedule.kind = prune::ScheduleKind::Iterative;
        step.schedule.rounds = rounds;
        prune::MaskSet m = prune::offline_masks(step, {{"w", w}}, {});
        int64_t kept = m.n_kept();
        INFO("rounds " << rounds << " kept " << kept);
        // each round rounds half to even: at most half a unit of error per round
        REQUIRE(std::abs(kept - 800) <= rounds);
        // the pruned ones are the lowest magnitudes overall (magnitude ranking is stable across rounds)
        prune::MaskSet once = prune::decide_masks({{"w", w}}, {}, [&] {
            prune::PruneSpec s;
            s.amount = Amount::count(10000 - kept);
            return s;
        }());
        testing::require_equal(m.find("w")->to_vector(), once.find("w")->to_vector(), "iterative vs one-shot");
    }
    prune::ScheduledStep agp;
    agp.name = "agp";
    agp.params = {"w"};
    agp.spec.amount = Amount::fraction(0.9);
    agp.schedule.kind = prune::ScheduleKind::Agp;
    REQUIRE_THROWS_WITH(prune::offline_masks(agp, {{"w", w}}, {}), Catch::Contains("needs training"));
}

TEST_CASE("AGP follows the cubic of Zhu & Gupta and reaches the final sparsity in training", "[prune][schedule]") {
    prune::AgpSchedule s{0.0, 0.9, 0, 100, 10};
    REQUIRE(s.sparsity_at(0) == 0.0);
    REQUIRE(std::fabs(s.sparsity_at(50) - 0.9 * (1.0 - 0.125)) < 1e-12);
    REQUIRE(std::fabs(s.sparsity_at(90) - 0.9 * (1.0 - 0.001)) < 1e-12);
    REQUIRE(s.sparsity_at(100) == 0.9);
    REQUIRE(s.sparsity_at(1000) == 0.9);
    REQUIRE(s.is_pruning_step(30));
    REQUIRE(!s.is_pruning_step(35));
    REQUIRE(!s.is_pruning_step(110));
    REQUIRE_THROWS_WITH((prune::AgpSchedule{0.5, 0.4, 0, 10, 1}.validate("agp")), Catch::Contains("initial <= final"));

    data::ImageDataset d = synthetic(128, 1);
    nn::TrainConfig c;
    c.epochs = 4;  // 4 steps per epoch: 16 steps
    c.batch_size = 32;
    c.lr = 0.05f;
    c.progress = false;
    auto net = nn::make_model("lenet300:hidden=16-8", 4);
    nn::Trainer t(*net, c, d);
    prune::MaskSet masks;
    prune::attach_masks(t, masks, *net);
    std::vector<prune::ScheduledStep> steps(1);
    steps[0].name = "agp";
    steps[0].params = {"fc1.weight", "fc2.weight"};
    steps[0].spec.amount = Amount::fraction(0.8);
    steps[0].schedule = {prune::ScheduleKind::Agp, 2, 12, 2, 1, 0.0};
    prune::attach_schedule(t, steps, masks, *net);
    std::vector<double> seen;
    auto inner = t.before_step;
    t.before_step = [&](int64_t at) {
        inner(at);
        if (at >= 2 && at <= 12 && at % 2 == 0)
            seen.push_back(1.0 - double(masks.n_kept({"fc1.weight"})) / double(masks.n_total({"fc1.weight"})));
    };
    t.fit();
    REQUIRE(seen.size() == 6);
    for (size_t k = 0; k < seen.size(); k++) {
        double expect = prune::AgpSchedule{0.0, 0.8, 2, 12, 2}.sparsity_at(2 + 2 * int64_t(k));
        REQUIRE(std::fabs(seen[k] - expect) <= 0.5 / 12544.0 + 1e-12);
        if (k) REQUIRE(seen[k] >= seen[k - 1]);
    }
    REQUIRE(masks.n_total({"fc1.weight"}) - masks.n_kept({"fc1.weight"}) == prune::round_half_even(0.8 * 12544));
    REQUIRE(max_masked(masks, t.optimizer()) == 0.0f);
    // a schedule that would prune after the last step is refused
    nn::Trainer t2(*net, c, d);
    steps[0].schedule.end = 16;
    REQUIRE_THROWS_WITH(prune::attach_schedule(t2, steps, masks, *net), Catch::Contains("training has only 16 steps"));
}

TEST_CASE("decide_to_sparsity: local and global targets, per-layer sparsities", "[prune][schedule]") {
    std::vector<nn::NamedTensor> params = {{"a", testing::randn({10, 10}, 1)}, {"b", testing::randn({20, 10}, 2, 3.0f)}};
    prune::PruneSpec spec;
    prune::MaskSet m = prune::decide_to_sparsity(params, {}, spec, 0.3);
    REQUIRE(m.n_kept({"a"}) == 70);
    REQUIRE(m.n_kept({"b"}) == 140);
    prune::MaskSet m2 = prune::decide_to_sparsity(params, m, spec, 0.2);  // never un-prunes
    REQUIRE(m2.n_kept() == 210);
    spec.global = true;
    prune::MaskSet g = prune::decide_to_sparsity(params, m, spec, 0.5);
    REQUIRE(g.n_kept() == 150);
    REQUIRE(g.n_kept({"a"}) < 50);  // the small-scale layer takes more of the global cut
    spec.layer_amounts = {{"a", Amount::fraction(0.1)}};
    prune::MaskSet own = prune::decide_to_sparsity(params, {}, spec, 0.5);
    REQUIRE(own.n_kept({"a"}) == 90);
    REQUIRE(own.n_kept({"b"}) == 100);
    spec = {};
    spec.granularity = prune::Grouping::slices(0);
    prune::MaskSet rows = prune::decide_to_sparsity(params, {}, spec, 0.25);
    // a: round(0.25 * 10) = round(2.5) = 2 rows (half to even); b: 5 of 20 rows
    REQUIRE(prune::unit_sparsity(params, rows, spec.granularity) == 7.0 / 30.0);
    REQUIRE(rows.n_kept({"a"}) == 8 * 10);
    REQUIRE(rows.n_kept({"b"}) == 15 * 10);
}

TEST_CASE("rewinding restores theta_0 exactly on the survivors; controls keep densities", "[prune][rewind]") {
    data::ImageDataset d = synthetic(64, 9);
    auto net = nn::make_model("lenet300:hidden=16-8", 6);
    prune::Snapshot theta0 = prune::Snapshot::take(*net);
    nn::TrainConfig c;
    c.epochs = 2;
    c.batch_size = 16;
    c.progress = false;
    nn::Trainer t(*net, c, d);
    t.fit();
    prune::MaskSet masks = half_pruned(*net);
    theta0.restore(*net);
    masks.apply(*net);
    for (auto& [name, p] : net->named_parameters()) {
        const Tensor* m = masks.find(name);
        const Tensor& orig = [&]() -> const Tensor& {
            for (auto& [n, v] : theta0.values())
                if (n == name) return v;
            FAIL("missing " << name);
            return p;
        }();
        for (int64_t i = 0; i < p.numel(); i++) {
            float want = (!m || m->data()[i] != 0.0f) ? orig.data()[i] : 0.0f;
            REQUIRE(std::memcmp(&p.data()[i], &want, sizeof(float)) == 0);
        }
    }
    // saved and loaded snapshots are the same values
    theta0.save("test-theta0.safetensors");
    prune::Snapshot back = prune::Snapshot::load("test-theta0.safetensors");
    std::remove("test-theta0.safetensors");
    REQUIRE(back.values().size() == theta0.values().size());
    for (size_t i = 0; i < back.values().size(); i++)
        testing::require_equal(back.values()[i].second.to_vector(), theta0.values()[i].second.to_vector());
    // random masks of equal per-layer density, at other positions
    prune::MaskSet r = prune::random_masks_like(masks, 1);
    for (auto& name : masks.names()) {
        REQUIRE(r.n_kept({name}) == masks.n_kept({name}));
        REQUIRE(r.find(name)->to_vector() != masks.find(name)->to_vector());
    }
    testing::require_equal(prune::random_masks_like(masks, 1).find("fc1.weight")->to_vector(),
                           r.find("fc1.weight")->to_vector(), "seeded");
}

TEST_CASE("trainer start_step continues the LR schedule and data order from step k", "[prune][rewind][trainer]") {
    data::ImageDataset d = synthetic(64, 9);
    nn::TrainConfig c;
    c.epochs = 2;
    c.batch_size = 16;
    c.progress = false;
    auto a = nn::make_model("lenet300:hidden=16-8", 6);
    nn::Trainer ta(*a, c, d);
    std::vector<float> lrs_a, lrs_b;
    ta.after_step = [&](int64_t) { lrs_a.push_back(ta.optimizer().lr); };
    auto r = ta.fit();
    REQUIRE(r.steps == 8);
    c.start_step = 5;
    auto b = nn::make_model("lenet300:hidden=16-8", 6);
    nn::Trainer tb(*b, c, d);
    tb.after_step = [&](int64_t) { lrs_b.push_back(tb.optimizer().lr); };
    auto rb = tb.fit();
    REQUIRE(rb.steps == 8);
    REQUIRE(lrs_b.size() == 3);
    for (size_t k = 0; k < 3; k++) REQUIRE(lrs_b[k] == lrs_a[5 + k]);
}

TEST_CASE("Taylor, SNIP and movement saliencies", "[prune][scorers]") {
    data::ImageDataset d = synthetic(32, 2);
    auto net = nn::make_model("lenet300:hidden=16-8", 6);
    prune::MaskSet masks = half_pruned(*net);
    masks.apply(*net);
    auto taylor = prune::taylor_saliency(*net, d, {}, 32, 1, 1, &masks);
    REQUIRE(taylor.size() == 3);
    // by hand: |w * g| on the same batch
    data::DataLoader loader(d, 32, true, 1);
    data::Batch b = loader.batch(0);
    net->zero_grad();
    nn::cross_entropy(net->forward(b.x), b.y).backward();
    Tensor w = net->parameter("fc2.weight");
    for (int64_t i = 0; i < w.numel(); i++) {
        float want = std::fabs(w.data()[i] * w.grad().data()[i]);
        REQUIRE(taylor["fc2.weight"].data()[i] == want);
        if (masks.find("fc2.weight")->data()[i] == 0.0f) REQUIRE(taylor["fc2.weight"].data()[i] == 0.0f);
    }
    net->zero_grad();
    auto snip = prune::snip_saliency(*net, d, {}, 32, 1, &masks);
    double total = 0;
    for (auto& [n, s] : snip)
        for (float v : s.to_vector()) total += v;
    REQUIRE(std::fabs(total - 1.0) < 1e-4);
    Tensor g1 = net->parameter("fc1.weight").grad();
    REQUIRE((!g1.defined() || count_zeros(g1) == g1.numel()));
    prune::SaliencyTracker mv(prune::Saliency::Movement, {{"fc2.weight", w}});
    nn::cross_entropy(net->forward(b.x), b.y).backward();
    mv.accumulate();
    mv.accumulate();
    REQUIRE(mv.steps() == 2);
    std::vector<float> want;
    for (int64_t i = 0; i < w.numel(); i++) want.push_back(-2.0f * w.data()[i] * w.grad().data()[i]);
    testing::require_close(mv.scores().at("fc2.weight").to_vector(), want, 1e-12f, 1e-6f, "movement");
    REQUIRE_THROWS_WITH(prune::SaliencyTracker(prune::Saliency::Snip, {}), Catch::Contains("not snip"));
}

TEST_CASE("per-layer report: nnz, mask vs value zeros, zero rows and columns, total", "[prune][report]") {
    Tensor w = Tensor::from_vector({0, 0, 0, 1, 2, 0, 3, 0, 4}, {3, 3});  // row 0 zero, col 1 zero after masking
    Tensor m = Tensor::from_vector({1, 1, 1, 1, 0, 1, 1, 1, 1}, {3, 3});
    Tensor b = Tensor::from_vector({1, 0}, {2});
    prune::MaskSet masks;
    masks.set("w", m);
    prune::Report r = prune::make_report({{"w", w}, {"b", b}}, masks, {{"w", 0.5}});
    const prune::LayerRow& row = r.rows[0];
    REQUIRE(row.params == 9);
    REQUIRE(row.nnz == 3);  // 1, 3, 4 (2 is masked)
    REQUIRE(row.mask_zeros == 1);
    REQUIRE(row.value_zeros == 5);
    REQUIRE(row.zero_dim0 == 1);
    REQUIRE(row.zero_dim1 == 1);
    REQUIRE(row.target == 0.5);
    REQUIRE(r.rows[1].nnz == 1);
    REQUIRE(!r.rows[1].has_mask);
    REQUIRE(r.total.params == 11);
    REQUIRE(r.total.nnz == 4);
    std::string csv = prune::report_csv(r);
    REQUIRE(csv.find("w,3x3,9,3,0.666667,0.500000,1,1,5,1,3,1,3\n") != std::string::npos);
    REQUIRE(csv.find("total,,11,4,") != std::string::npos);
    std::string table = prune::format_report(r);
    REQUIRE(table.find("1/3") != std::string::npos);
    REQUIRE(table.find("total") != std::string::npos);
}
