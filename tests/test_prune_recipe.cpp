// Recipes: a full recipe parses into the expected specs; every kind of mistake is one error naming
// the source and the line; selectors that match nothing are errors at resolution; a recipe applied
// offline gives the same masks as the library calls it stands for.
#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/trainer.hpp"
#include "prune/recipe.hpp"
#include "prune/runner.hpp"

using Catch::Contains;
using prune::parse_recipe;

namespace {

const char* kFull = R"(# LeNet recipe
[step hidden]
params      = fc1.weight, fc2.*     # globs allowed
ignore      = fc2.bias
method      = magnitude
amount      = 0.8
scope       = global
layer_normalize = true
max_sparsity = 0.95
layer_amount = fc2.weight 0.5
schedule    = agp
start       = 10
end         = 100
every       = 10
initial     = 0.1

[step]
params = fc3.weight
method = ln_structured
n = inf
dim = 1
amount = 3
)";

void require_error(const std::string& text, int line, const std::string& what) {
    INFO(text);
    REQUIRE_THROWS_WITH(parse_recipe(text, "r.txt"), Contains("r.txt:" + std::to_string(line) + ": ") && Contains(what));
}

const std::string kHead = "[step]\nparams = fc1.weight\nmethod = magnitude\namount = 0.5\n";  // lines 1-4

}  // namespace

TEST_CASE("recipe: a full recipe parses into steps", "[prune][recipe]") {
    prune::Recipe r = parse_recipe(kFull, "lenet.recipe");
    REQUIRE(r.steps.size() == 2);
    const prune::RecipeStep& a = r.steps[0];
    REQUIRE(a.name == "hidden");
    REQUIRE(a.line == 2);
    REQUIRE(a.params == std::vector<std::string>{"fc1.weight", "fc2.*"});
    REQUIRE(a.ignore == std::vector<std::string>{"fc2.bias"});
    REQUIRE(a.spec.scorer == prune::Scorer::Magnitude);
    REQUIRE(a.spec.global);
    REQUIRE(a.spec.global_options.layer_normalize);
    REQUIRE(a.spec.global_options.max_sparsity == 0.95);
    REQUIRE(a.spec.amount.value() == 0.8);
    REQUIRE(a.spec.layer_amounts.size() == 1);
    REQUIRE(a.spec.layer_amounts[0].first == "fc2.weight");
    REQUIRE(a.layer_amount_lines[0] == 10);
    REQUIRE(a.schedule.kind == prune::ScheduleKind::Agp);
    REQUIRE(a.schedule.start == 10);
    REQUIRE(a.schedule.end == 100);
    REQUIRE(a.schedule.every == 10);
    REQUIRE(a.schedule.initial == 0.1);
    const prune::RecipeStep& b = r.steps[1];
    REQUIRE(b.name == "step 2");
    REQUIRE(b.spec.granularity.kind == prune::Grouping::Kind::Slices);
    REQUIRE(b.spec.granularity.dim == 1);
    REQUIRE(std::isinf(b.spec.reduce.p));
    REQUIRE(b.spec.amount.is_count());
    REQUIRE(b.schedule.kind == prune::ScheduleKind::OneShot);
    // CRLF line ends and tabs are fine
    REQUIRE(parse_recipe("[step]\r\nparams\t=\tw\r\nmethod = random\r\namount = 2\r\nseed = 7\r\n", "x").steps[0].spec.seed == 7);
    // granularities by name
    auto gran = [](const std::string& g) {
        return parse_recipe("[step]\nparams = w\nmethod = magnitude\namount = 1\ngranularity = " + g + "\n", "x").steps[0].spec.granularity;
    };
    REQUIRE(gran("filters").dim == 0);
    REQUIRE(gran("channels").dim == 1);
    REQUIRE(gran("kernels").kind == prune::Grouping::Kind::Kernels);
    REQUIRE(gran("layer").kind == prune::Grouping::Kind::Tensor);
    REQUIRE(parse_recipe("[step]\nparams = w\nmethod = taylor\namount = 1\ngranularity = heads\nheads = 4\ndim = 1\nbatches = 3\n", "x")
                .steps[0].spec.granularity.n_blocks == 4);
}

TEST_CASE("recipe errors: one per kind, each naming the file and line", "[prune][recipe][bad-input]") {
    require_error(kHead + "colour = red\n", 5, "unknown key 'colour'");
    require_error(kHead + "amount = 0.3\n", 5, "'amount' is repeated (first given on line 4)");
    require_error(kHead + "scope = sideways\n", 5, "scope = 'sideways' must be local or global");
    require_error(kHead + "this is not a pair\n", 5, "expected 'key = value'");
    require_error(kHead + "seed =\n", 5, "'seed' has an empty value");
    require_error("params = w\n", 1, "'params' before the first [step]");
    require_error("[stage]\n", 1, "unknown section '[stage]'");
    require_error("[step\n", 1, "a step header looks like");
    require_error("[step]\nparams = w\nmethod = prune_it\namount = 0.5\n", 3, "unknown method 'prune_it'");
    require_error("[step]\nparams = w\nmethod = magnitude\namount = 1.5\n", 4, "should either be a float in the range [0, 1]");
    require_error("[step]\nparams = w\nmethod = magnitude\namount = -3\n", 4, "non-negative integer");
    require_error("[step]\nmethod = magnitude\namount = 0.5\n", 1, "has no 'params'");
    require_error("[step]\nparams = w\namount = 0.5\n", 1, "has no 'method'");
    require_error("[step]\nparams = , ,\nmethod = magnitude\namount = 0.5\n", 2, "params lists no selector");
    require_error(kHead + "granularity = blobs\n", 5, "unknown granularity 'blobs'");
    require_error(kHead + "granularity = dim\n", 5, "granularity dim needs a 'dim' key");
    require_error(kHead + "granularity = heads\n", 5, "granularity heads needs a 'heads' key");
    require_error(kHead + "granularity = heads\nheads = 0\n", 6, "heads = 0 must be >= 1");
    require_error(kHead + "dim = 1\n", 5, "'dim' applies only to");
    require_error(kHead + "n = 2\n", 5, "'n' (norm order) applies only to structured");
    require_error(kHead + "granularity = rows\nn = -1\n", 6, "n = -1 must be positive");
    require_error(kHead + "granularity = rows\nn = two\n", 6, "n = 'two' is not a finite number");
    require_error(kHead + "granularity = rows\nnormalize = yes\n", 6, "must be true or false");
    require_error("[step]\nparams = w\nmethod = l1_unstructured\namount = 1\ngranularity = rows\n", 5, "fixes the granularity");
    require_error("[step]\nparams = w\nmethod = ln_structured\namount = 1\ndim = 0\n", 3, "ln_structured needs 'n'");
    require_error("[step]\nparams = w\nmethod = random_structured\namount = 1\n", 3, "granularity dim needs a 'dim' key");
    require_error(kHead + "seed = 3\n", 5, "'seed' applies only to random methods");
    require_error(kHead + "batches = 3\n", 5, "'batches' applies only to method taylor");
    require_error(kHead + "max_sparsity = 0.9\n", 5, "applies only to scope = global");
    require_error(kHead + "scope = global\nmax_sparsity = 1.2\n", 6, "max_sparsity = 1.2 must be in [0, 1]");
    require_error(kHead + "scope = global\nmin_sparsity = 0.5\nmax_sparsity = 0.4\n", 6, "min_sparsity 0.5 exceeds max_sparsity 0.4");
    require_error(kHead + "layer_amount = fc1.weight\n", 5, "must be GLOB AMOUNT");
    require_error(kHead + "schedule = weekly\n", 5, "schedule = 'weekly' must be oneshot, iterative or agp");
    require_error(kHead + "schedule = iterative\n", 1, "schedule iterative needs 'rounds'");
    require_error(kHead + "schedule = agp\n", 1, "schedule agp needs 'end'");
    require_error(kHead + "rounds = 3\n", 5, "'rounds' applies only to schedule = iterative");
    require_error(kHead + "every = 3\n", 5, "'every' applies only to schedules iterative and agp");
    require_error(kHead + "schedule = agp\nend = 10\nstart = 20\n", 6, "end = 10 is before start = 20");
    require_error(kHead + "schedule = iterative\nrounds = 2.5\n", 6, "rounds = '2.5' is not an integer");
    require_error("[step]\nparams = w\nmethod = magnitude\namount = 7\nschedule = iterative\nrounds = 2\n", 4,
                  "needs a target sparsity (a fraction), not the count 7");
    require_error(kHead + "schedule = agp\nend = 10\ninitial = 0.9\n", 7, "initial = 0.9 exceeds the final sparsity 0.5");
    require_error(kHead + "start = 99999999999999999999\n", 5, "is not an integer");
    require_error(kHead + "seed\x01 = 1\n", 5, "control character");
    REQUIRE_THROWS_WITH(parse_recipe("# nothing here\n\n", "empty.txt"), Contains("empty.txt") && Contains("has no [step]"));
    REQUIRE_THROWS_WITH(parse_recipe("", "empty.txt"), Contains("has no [step]"));
}

TEST_CASE("recipe: an iterative schedule whose last round overflows 64 bits is refused", "[prune][recipe][bad-input]") {
    // Regression: start + (rounds - 1) * every overflowed int64 (undefined behaviour) when pruning
    // offline or checking the schedule against training (tests/fuzz/corpus/recipe/iterative-overflow).
    require_error(kHead + "schedule = iterative\nrounds = 3\nevery = 4611686018427387904\n", 6,
                  "rounds = 3 with start = 0 and every = 4611686018427387904 puts the last round beyond step 2^63 - 1");
    require_error(kHead + "schedule = iterative\nstart = 9223372036854775807\nrounds = 2\n", 7,
                  "rounds = 2 with start = 9223372036854775807 and every = 1 puts the last round beyond step 2^63 - 1");
    prune::Recipe ok = prune::parse_recipe(kHead + "schedule = iterative\nstart = 9223372036854775806\nrounds = 2\n", "r");
    REQUIRE(ok.steps[0].schedule.rounds == 2);  // the last round at exactly 2^63 - 1 is representable
    // The library checks schedules it did not get from a recipe too.
    prune::ScheduledStep st;
    st.name = "api step";
    st.params = {"w"};
    st.spec.amount = prune::Amount::fraction(0.5);
    st.schedule.kind = prune::ScheduleKind::Iterative;
    st.schedule.rounds = 3;
    st.schedule.every = int64_t(1) << 62;
    std::vector<nn::NamedTensor> params = {{"w", nn::Tensor::ones({4})}};
    REQUIRE_THROWS_WITH(prune::offline_masks(st, params, prune::MaskSet{}),
                        Catch::Contains("api step: rounds = 3 with start = 0 and every = 4611686018427387904 puts the "
                                        "last round beyond step 2^63 - 1"));
}

TEST_CASE("recipe selectors that match nothing are errors naming the line", "[prune][recipe][bad-input]") {
    prune::Recipe r = parse_recipe(kFull, "lenet.recipe");
    std::vector<std::string> names = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"};
    REQUIRE(prune::resolve_params(r, r.steps[0], names) == std::vector<std::string>{"fc1.weight", "fc2.weight"});
    REQUIRE_THROWS_WITH(prune::resolve_params(r, r.steps[0], {"fc1.weight", "fc2.bias"}),
                        Contains("lenet.recipe:10") && Contains("layer_amount selector 'fc2.weight'"));
    REQUIRE_THROWS_WITH(prune::resolve_params(r, r.steps[1], {"conv1.weight"}),
                        Contains("lenet.recipe:18") && Contains("'fc3.weight' matches no parameter"));
    prune::Recipe bad = parse_recipe("[step]\nparams = *.weight\nignore = head.*\nmethod = magnitude\namount = 1\n", "b.txt");
    REQUIRE_THROWS_WITH(prune::resolve_params(bad, bad.steps[0], names), Contains("b.txt:3") && Contains("ignore selector 'head.*'"));
}

TEST_CASE("a recipe applied offline equals the library calls it stands for", "[prune][recipe]") {
    std::vector<nn::NamedTensor> params = {{"fc1.weight", testing::randn({6, 5}, 1)}, {"fc2.weight", testing::randn({4, 6}, 2)}};
    prune::Recipe r = parse_recipe("[step]\nparams = fc*\nmethod = l1_unstructured\namount = 0.4\nscope = global\n"
                                   "[step]\nparams = fc2.weight\nmethod = ln_structured\nn = 2\ndim = 0\namount = 0.5\n",
                                   "r.txt");
    std::vector<std::string> names = {"fc1.weight", "fc2.weight"};
    prune::MaskSet masks;
    for (auto& st : r.steps) masks = prune::offline_masks(prune::to_scheduled(r, st, names), params, masks);
    auto g = prune::global_unstructured({params[0].second, params[1].second}, prune::Amount::fraction(0.4));
    testing::require_equal(masks.find("fc1.weight")->to_vector(), g[0].to_vector(), "fc1");
    nn::Tensor m2 = prune::ln_structured(params[1].second, prune::Amount::fraction(0.5), 2, 0, g[1]);
    testing::require_equal(masks.find("fc2.weight")->to_vector(), m2.to_vector(), "fc2");
}

TEST_CASE("a recipe drives pruning during training: AGP, Taylor, SNIP, movement", "[prune][recipe][runner]") {
    data::ImageDataset d;
    d.images = testing::randn({128, 1, 28, 28}, 1);
    d.labels = nn::argmax_rows(nn::matmul(d.images.reshape({128, 784}), testing::randn({784, 10}, 2)));
    prune::Recipe r = parse_recipe(R"(
[step gradual]
params = fc1.weight
method = magnitude
amount = 0.75
schedule = agp
start = 2
end = 10
every = 2
[step taylor]
params = fc2.weight
method = taylor
granularity = rows
amount = 0.25
batches = 2
batch_size = 16
start = 4
[step snip]
params = fc3.weight
method = snip
amount = 0.5
[step movement]
params = fc2.bias
method = movement
amount = 3
start = 6
)",
                                   "train.recipe");
    auto net = nn::make_model("lenet300:hidden=16-8", 3);
    nn::TrainConfig c;
    c.epochs = 4;  // 4 steps per epoch: 16 steps
    c.batch_size = 32;
    c.lr = 0.05f;
    c.progress = false;
    nn::Trainer t(*net, c, d);
    prune::RecipeRunner runner(r, *net, d, 1);
    runner.attach(t);
    t.fit();
    prune::MaskSet& m = runner.masks();
    REQUIRE(m.n_total({"fc1.weight"}) - m.n_kept({"fc1.weight"}) == prune::round_half_even(0.75 * 784 * 16));
    REQUIRE(m.n_kept({"fc2.weight"}) == 6 * 16);  // fc2.weight is [8, 16]: 2 of 8 rows pruned
    REQUIRE(m.n_kept({"fc3.weight"}) == 40);
    REQUIRE(m.n_kept({"fc2.bias"}) == 5);
    for (auto& [name, mask] : m.masks()) {
        nn::Tensor w = net->parameter(name);
        for (int64_t i = 0; i < w.numel(); i++)
            if (mask.data()[i] == 0.0f) REQUIRE(w.data()[i] == 0.0f);
    }
    auto targets = runner.final_targets();
    REQUIRE(targets.at("fc1.weight") == 0.75);
    REQUIRE(targets.at("fc3.weight") == 0.5);
    REQUIRE(targets.count("fc2.bias") == 0);  // a count has no fractional target
}

TEST_CASE("recipe parser: mutated inputs give nn::Error or a recipe, never anything else", "[prune][recipe][bad-input]") {
    // A cheap in-tree fuzz loop (a libFuzzer target can call parse_recipe the same way): random byte
    // edits, deletions and duplicated lines of a valid recipe.
    const std::string base = kFull;
    nn::Rng rng(2024);
    int parsed = 0, rejected = 0;
    for (int iter = 0; iter < 3000; iter++) {
        std::string s = base;
        int edits = 1 + int(rng.below(4));
        for (int e = 0; e < edits && !s.empty(); e++) {
            size_t pos = size_t(rng.below(s.size()));
            switch (rng.below(4)) {
                case 0: s[pos] = char(rng.below(256)); break;
                case 1: s.erase(pos, size_t(rng.below(8))); break;
                case 2: s.insert(pos, s.substr(size_t(rng.below(s.size())), size_t(rng.below(20)))); break;
                case 3: s.insert(pos, 1, "=[]#,*\n \t"[rng.below(9)]); break;
            }
        }
        try {
            prune::Recipe r = parse_recipe(s, "fuzz");
            REQUIRE(!r.steps.empty());
            parsed++;
        } catch (const nn::Error& err) {
            REQUIRE(std::string(err.what()).find("fuzz") != std::string::npos);
            rejected++;
        }
    }
    REQUIRE(parsed > 0);
    REQUIRE(rejected > 0);
}
