// Thinning (structured removal), params/MACs counts, sensitivity analysis and ratio allocation.
#include <catch2/catch.hpp>

#include "data/dataset.hpp"
#include "nn/models.hpp"
#include "nn/transformer.hpp"
#include "prune/recipe.hpp"
#include "prune/sensitivity.hpp"
#include "prune/thin.hpp"
#include "tests/helpers.hpp"

using nn::Shape;
using nn::Tensor;

namespace {

// Non-trivial BatchNorm statistics and affine parameters, so dropped channels would show.
void randomise_batch_norm(nn::Module& m, uint64_t seed) {
    for (auto& [name, t] : m.state_dict()) {
        bool bn_stat = name.find("running_var") != std::string::npos;
        bool bn_mean = name.find("running_mean") != std::string::npos;
        if (bn_stat) t.copy_(testing::uniform(t.shape(), seed++, 0.5f, 2.0f));
        if (bn_mean) t.copy_(testing::uniform(t.shape(), seed++, -0.5f, 0.5f));
        if (t.ndim() == 1 && !bn_stat && !bn_mean && name.find("num_batches") == std::string::npos)
            t.copy_(testing::uniform(t.shape(), seed++, -0.5f, 0.5f));
    }
}

// Prunes `ratio` of every dependency group by L1 (with companions), applies the masks, and checks
// that the thinned model gives the masked model's outputs; returns the thinned result.
prune::ThinResult check_thin_equals_masked(const std::string& spec, nn::Module& m, double ratio,
                                           const std::function<Tensor(nn::Module&)>& run) {
    auto groups = prune::dependency_groups(spec, m);
    std::map<std::string, double> ratios;
    for (auto& g : groups) ratios[g.producers[0].param] = ratio;
    prune::MaskSet masks = prune::masks_for_ratios(spec, m, "filter", ratios);
    masks.apply(m);
    m.eval();
    Tensor want = run(m);
    prune::ThinResult t = prune::thin(spec, m, masks);
    t.model->eval();
    Tensor got = run(*t.model);
    testing::require_close(got.to_vector(), want.to_vector(), 1e-5f, 1e-5f, "thinned vs masked " + spec);
    REQUIRE(t.model->num_parameters() < m.num_parameters());
    // The thinned spec rebuilds the same architecture.
    REQUIRE(nn::make_model(t.spec, 3)->num_parameters() == t.model->num_parameters());
    return t;
}

Tensor images(int64_t n) { return testing::randn(Shape{n, 1, 28, 28}, 7); }

}  // namespace

TEST_CASE("thin: conv -> BN -> conv -> flatten -> linear (vgg) equals the masked model", "[thin]") {
    const std::string spec = "vgg:hidden=8,widths=4-4-6-6-8-8";
    auto m = nn::make_model(spec, 1);
    randomise_batch_norm(*m, 11);
    auto groups = prune::dependency_groups(spec, *m);
    REQUIRE(groups.size() == 7);  // 6 conv groups + 1 hidden layer
    REQUIRE(groups[0].companions.size() == 4);  // BN weight, bias, running mean, running var
    REQUIRE(groups[5].readers[0].param == "classifier.0.weight");
    REQUIRE(groups[5].readers[0].block == 9);  // 3x3 feature map per channel
    Tensor x = images(3);
    auto t = check_thin_equals_masked(spec, *m, 0.5, [&](nn::Module& net) { return net.forward(x); });
    REQUIRE(t.spec == "vgg:hidden=4,widths=2-2-3-3-4-4");
    REQUIRE(t.masks.empty());
}

TEST_CASE("thin: lenet5 (conv -> pool -> conv -> flatten -> fc, biases) equals the masked model", "[thin]") {
    const std::string spec = "lenet5";
    auto m = nn::make_model(spec, 2);
    Tensor x = images(2);
    auto t = check_thin_equals_masked(spec, *m, 0.25, [&](nn::Module& net) { return net.forward(x); });
    REQUIRE(t.spec == "lenet5:hidden=90-63,widths=4-12");
}

TEST_CASE("thin: resnet20 residual groups tie every added tensor and equal the masked model", "[thin]") {
    const std::string spec = "resnet20:blocks=2,widths=4-8-8";
    auto m = nn::make_model(spec, 3);
    randomise_batch_norm(*m, 21);
    auto groups = prune::dependency_groups(spec, *m);
    // Stage 2: layer2.0.conv2, layer2.0.downsample.0, layer2.1.conv2 produce it.
    REQUIRE(groups[1].producers.size() == 3);
    REQUIRE(groups.size() == 3 + 6);
    Tensor x = images(2);
    auto t = check_thin_equals_masked(spec, *m, 0.5, [&](nn::Module& net) { return net.forward(x); });
    REQUIRE(t.spec == "resnet20:blocks=2,inner=2-2-4-4-4-4,widths=2-4-4");
}

TEST_CASE("thin: attention heads and FFN units of BERT equal the masked model", "[thin]") {
    const std::string spec = "bert-cls:attn_dropout=0,classes=3,dropout=0,ffn=12-8,heads=4-2,head_dim=3,hidden=8,layers=2,seq=8,vocab=30";
    auto m = nn::make_model(spec, 4);
    randomise_batch_norm(*m, 31);  // biases and LayerNorm parameters
    auto* cls = dynamic_cast<nn::BertForSequenceClassification*>(m.get());
    REQUIRE(cls);
    nn::IntTensor ids = nn::IntTensor::from_vector({2, 7, 9, 11, 3, 0, 2, 5, 5, 6, 7, 3}, Shape{2, 6});
    auto run = [&](nn::Module& net) { return dynamic_cast<nn::BertForSequenceClassification&>(net).forward_ids(ids); };
    auto t = check_thin_equals_masked(spec, *m, 0.5, run);
    auto* thin_cls = dynamic_cast<nn::BertForSequenceClassification*>(t.model.get());
    REQUIRE(thin_cls->bert->config.heads == std::vector<int64_t>{2, 1});
    REQUIRE(thin_cls->bert->config.intermediate == std::vector<int64_t>{6, 4});
    REQUIRE(thin_cls->bert->config.head_dim == 3);
}

TEST_CASE("thin: unsupported models, a group pruned entirely", "[thin]") {
    auto m = nn::make_model("lenet5", 1);
    prune::MaskSet masks;
    masks.set("conv1.weight", Tensor::zeros(Shape{6, 1, 5, 5}));
    REQUIRE_THROWS_WITH(prune::thin("lenet5", *m, masks), Catch::Contains("every unit of 'conv1'"));
    nn::Sequential seq;
    REQUIRE_THROWS_WITH(prune::dependency_groups("mlp", seq), Catch::Contains("not supported"));
}

TEST_CASE("costs: lenet5 params and MACs by hand, dense and effective", "[thin]") {
    auto m = nn::make_model("lenet5", 1);
    auto rows = prune::layer_costs("lenet5", *m);
    REQUIRE(rows.size() == 5);
    // conv1: 6x1x5x5 + 6 params, 150 x 28x28 MACs; conv2: 16x6x5x5 + 16, 2400 x 10x10;
    // fc1 400x120 + 120; fc2 120x84 + 84; fc3 84x10 + 10.
    REQUIRE(rows[0].params == 156);
    REQUIRE(rows[0].macs == 117600);
    REQUIRE(rows[1].params == 2416);
    REQUIRE(rows[1].macs == 240000);
    REQUIRE(rows[2].params == 48120);
    REQUIRE(rows[2].macs == 48000);
    REQUIRE(rows[3].macs == 10080);
    REQUIRE(rows[4].macs == 840);
    prune::CostTotals t = prune::total_costs(rows);
    REQUIRE(t.params == 61706);
    REQUIRE(t.macs == 416520);
    REQUIRE(t.params_effective == t.params);
    // Half of conv1's filters removed: conv1 keeps 3x25 + 3, conv2 reads 3 channels (16x3x25 + 16).
    prune::MaskSet masks;
    Tensor k = Tensor::ones(Shape{6, 1, 5, 5});
    for (int64_t i = 0; i < 75; i++) k.data()[i] = 0.0f;
    masks.set("conv1.weight", k);
    masks.set("fc3.weight", Tensor::zeros(Shape{10, 84}));  // unstructured zeros count too
    auto eff = prune::layer_costs("lenet5", *m, masks);
    REQUIRE(eff[0].params_effective == 78);
    REQUIRE(eff[0].macs_effective == 75 * 784);
    REQUIRE(eff[1].params_effective == 1216);
    REQUIRE(eff[1].macs_effective == 120000);
    REQUIRE(eff[4].params_effective == 10);
    REQUIRE(eff[4].macs_effective == 0);
    prune::CostTotals te = prune::total_costs(eff);
    REQUIRE(prune::cost_line(te) == "Params: 61,706 \u2192 " + std::to_string(61706 - 78 - 1200 - 840).insert(2, ",") +
                                        ", MACs: 416,520 \u2192 " +
                                        std::to_string(416520 - 58800 - 120000 - 840).insert(3, ","));
    // Thinned costs agree with counting the thinned model itself.
    auto groups = prune::dependency_groups("lenet5", *m);
    prune::CostTotals tc = prune::thinned_costs("lenet5", *m, groups, {0.5});
    REQUIRE(tc.params == t.params);
    REQUIRE(tc.params_effective == te.params_effective + 840);
    REQUIRE(tc.macs_effective == te.macs_effective + 840);
}

TEST_CASE("allocation on a synthetic sensitivity table gives the hand-computed ratios", "[thin][sensitivity]") {
    std::vector<prune::SensitivityRow> rows = {
        {"dense", "filter", 0, 0.90, 0.3},
        {"a.weight", "filter", 0.1, 0.90, 0.3}, {"a.weight", "filter", 0.5, 0.89, 0.3}, {"a.weight", "filter", 0.9, 0.50, 1},
        {"b.weight", "filter", 0.1, 0.88, 0.3}, {"b.weight", "filter", 0.5, 0.86, 0.3}, {"b.weight", "filter", 0.9, 0.60, 1},
    };
    auto t = prune::make_table(rows, "synthetic");
    auto r = prune::ratios_for_drop(t, 0.01);
    REQUIRE(r["a.weight"] == 0.5);
    REQUIRE(r["b.weight"] == 0.0);
    REQUIRE(prune::ratios_for_drop(t, 0.0)["a.weight"] == 0.1);
    // One stage: the smaller ratio wins.
    auto rs = prune::ratios_for_drop(t, 0.01, {{"a.weight", "s"}, {"b.weight", "s"}});
    REQUIRE(rs["a.weight"] == 0.0);
    // Budget: a has 100 params, b 300. Removed(0.04) = (0.5*100 + 0.5*300)/400 = 0.5, the first threshold
    // reaching it (at 0.02..0.04 the ratios are 0.5 and 0.1: 0.2).
    auto removed = [](const std::map<std::string, double>& x) { return (x.at("a.weight") * 100 + x.at("b.weight") * 300) / 400; };
    prune::Allocation a = prune::allocate_budget(t, 0.5, removed);
    REQUIRE(a.ratios["a.weight"] == 0.5);
    REQUIRE(a.ratios["b.weight"] == 0.5);
    REQUIRE(a.drop == Approx(0.04).margin(1e-9));
    REQUIRE(a.removed == Approx(0.5));
    REQUIRE_THROWS_WITH(prune::allocate_budget(t, 0.95, removed), Catch::Contains("out of reach"));
    REQUIRE_THROWS_WITH(prune::make_table({rows.begin() + 1, rows.end()}, "x.csv"), Catch::Contains("'dense' row"));
}

TEST_CASE("sensitivity: a shard-and-merge run equals the unsharded run; CSV round trip; bad CSV", "[thin][sensitivity]") {
    const std::string spec = "lenet5:hidden=16-8,widths=4-6";
    auto m = nn::make_model(spec, 5);
    data::ImageDataset ds;
    ds.images = testing::randn(Shape{40, 1, 28, 28}, 9);
    ds.labels = nn::IntTensor(Shape{40});
    for (int64_t i = 0; i < 40; i++) ds.labels.data()[i] = i % 10;
    for (std::string gran : {"filter", "element"}) {
        prune::SensitivityOptions o;
        o.granularity = gran;
        o.ratios = {0.25, 0.5, 0.75};
        auto before = m->state_dict()[0].second.to_vector();
        auto whole = prune::sensitivity(spec, *m, ds, o);
        testing::require_equal(m->state_dict()[0].second.to_vector(), before, "weights restored");
        size_t layers = gran == "filter" ? 4 : 4;  // conv1, conv2, fc1, fc2 (fc3 is the output layer)
        REQUIRE(whole.size() == 1 + layers * 3);
        REQUIRE(whole[0].parameter == "dense");
        std::vector<std::vector<prune::SensitivityRow>> shards;
        for (int k = 0; k < 3; k++) {
            o.shard_index = k;
            o.shard_count = 3;
            shards.push_back(prune::parse_sensitivity_csv(prune::sensitivity_csv(prune::sensitivity(spec, *m, ds, o)), "shard"));
        }
        auto merged = prune::merge_sensitivity(shards);
        REQUIRE(prune::sensitivity_csv(merged) == prune::sensitivity_csv(whole));
        // Pruning more of a layer never leaves more weights: the curve at 0.75 differs from the dense one somewhere.
        bool changed = false;
        for (auto& r : whole) changed = changed || (r.ratio > 0 && r.loss != whole[0].loss);
        REQUIRE(changed);
    }
    REQUIRE_THROWS_WITH(prune::parse_sensitivity_csv("layer,ratio\n", "s.csv"), Catch::Contains("s.csv:1"));
    REQUIRE_THROWS_WITH(prune::parse_sensitivity_csv("parameter,granularity,ratio,accuracy,loss\nx,filter,abc,0.5,1\n", "s.csv"),
                        Catch::Contains("s.csv:2: ratio 'abc'"));
    REQUIRE_THROWS_WITH(prune::parse_sensitivity_csv("parameter,granularity,ratio,accuracy,loss\nx,rows,0.1,0.5,1\n", "s.csv"),
                        Catch::Contains("granularity 'rows'"));
}

TEST_CASE("allocation recipe for vgg parses and prunes filters", "[thin][sensitivity]") {
    const std::string spec = "vgg:hidden=8,widths=4-4-6-6-8-8";
    auto m = nn::make_model(spec, 1);
    std::map<std::string, double> ratios = {{"features.0.weight", 0.0}, {"features.17.weight", 0.5}};
    std::string text = prune::allocation_recipe(spec, *m, "filter", ratios, "test");
    REQUIRE(text.find("[step features.17.weight]") != std::string::npos);
    REQUIRE(text.find("features.0.weight") == std::string::npos);
    prune::Recipe recipe = prune::parse_recipe(text, "allocated");
    REQUIRE(recipe.steps.size() == 1);
    REQUIRE(recipe.steps[0].spec.amount.value() == 0.5);
    REQUIRE(recipe.steps[0].spec.granularity.kind == prune::Grouping::Kind::Slices);
    // Removing half of the last conv's filters removes them, their BN, and half of classifier.0's inputs.
    double f = prune::removed_fraction(spec, *m, "filter", ratios, false);
    int64_t total = m->num_parameters();
    int64_t gone = 4 * 8 * 9 + 4 * 2 + 4 * 9 * 8;  // filters, BN weight+bias, classifier columns
    REQUIRE(f == Approx(double(gone) / double(total)));
    auto stages = prune::stages_by_size(spec, *m, {"features.0.weight", "features.3.weight", "features.7.weight"});
    REQUIRE(stages["features.0.weight"] == stages["features.3.weight"]);
    REQUIRE(stages["features.0.weight"] != stages["features.7.weight"]);
}
