// The experiment harness: SVG charts, CSV tables, statistics, sharding, and the report.
#include <filesystem>

#include "experiments/exp_common.hpp"
#include "experiments/harness.hpp"
#include "experiments/plot.hpp"
#include "experiments/presets.hpp"
#include "experiments/report.hpp"
#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/json.hpp"

using namespace experiments;

namespace {

size_t count(const std::string& s, const std::string& needle) {
    size_t n = 0;
    for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) n++;
    return n;
}

void require_svg(const std::string& svg) {
    REQUIRE(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
    REQUIRE(svg.find("</svg>") != std::string::npos);
    REQUIRE(svg.find("nan") == std::string::npos);
    REQUIRE(svg.find("inf") == std::string::npos);
    REQUIRE(count(svg, "<svg") == 1);
}

}  // namespace

TEST_CASE("plot: line chart with bands, labels, legend and NaN gaps", "[harness][plot]") {
    plot::Axes a;
    a.title = "Accuracy vs density";
    a.xlabel = "density";
    a.ylabel = "test accuracy";
    a.log_x = true;
    a.percent_x = true;
    plot::Series s1{"magnitude", {1.0, 0.5, 0.2, 0.1}, {0.9, 0.89, 0.88, NAN}, {0.01, 0.01, 0.02, 0.0}};
    plot::Series s2{"random <control>", {1.0, 0.5, 0.2, 0.1}, {0.9, 0.85, 0.7, 0.5}, {}};
    std::string svg = plot::line_chart(a, {s1, s2});
    require_svg(svg);
    REQUIRE(svg.find("Accuracy vs density") != std::string::npos);
    REQUIRE(svg.find(">density<") != std::string::npos);
    REQUIRE(svg.find("random &lt;control&gt;") != std::string::npos);  // escaped
    REQUIRE(count(svg, "<circle") == 7);                                // the NaN point is skipped
    REQUIRE(svg.find("fill-opacity=\"0.18\"") != std::string::npos);   // the band
    REQUIRE(svg.find(">10%<") != std::string::npos);                    // log ticks as percentages
}

TEST_CASE("plot: bars, heatmap, scatter and histogram render", "[harness][plot]") {
    plot::Axes a;
    a.title = "t";
    std::string bars = plot::grouped_bars(a, {"fc1", "fc2"}, {{"global", {}, {0.9, 0.5}, {}}, {"local", {}, {0.8, 0.8}, {0.1, 0.1}}});
    require_svg(bars);
    REQUIRE(count(bars, "<rect x=") >= 4);
    std::string heat = plot::heatmap(a, {"conv1", "conv2"}, {"10%", "50%"}, {{0.9, 0.5}, {0.91, NAN}});
    require_svg(heat);
    REQUIRE(heat.find(">0.91<") != std::string::npos);
    require_svg(plot::scatter(a, {{"words", {1, 2, 3}, {0.1, 0.2, 0.3}, {}}}));
    std::string hist = plot::histogram(a, {{"w", {0.0, 0.1, 0.1, 0.2, 0.9}, {}, {}}}, 5);
    require_svg(hist);
    REQUIRE(count(hist, "fill-opacity=\"0.55\"") == 3);  // three non-empty bins
    REQUIRE(plot::nice_ticks(0, 1) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
}

TEST_CASE("table: CSV round trip, quoting, lookups and bad input", "[harness][table]") {
    Table t({"name", "value"});
    t.add({"a,b", "1.5"});
    t.add({"say \"hi\"", ""});
    Table u = Table::parse_csv(t.csv(), "mem");
    REQUIRE(u.size() == 2);
    REQUIRE(u.get(0, "name") == "a,b");
    REQUIRE(u.get(1, "name") == "say \"hi\"");
    REQUIRE(u.num(0, "value") == 1.5);
    REQUIRE(std::isnan(u.num(1, "value")));
    REQUIRE(u.where({{"name", "a,b"}}).size() == 1);
    REQUIRE_THROWS_WITH(u.column("nope"), Catch::Contains("no column 'nope'"));
    REQUIRE_THROWS_WITH(Table::parse_csv("a,b\n1\n", "bad.csv"), Catch::Contains("bad.csv:2"));
    REQUIRE_THROWS_WITH(Table::parse_csv("a\n\"x\n", "bad.csv"), Catch::Contains("unterminated"));
    REQUIRE_THROWS_WITH(Table::parse_csv("", "bad.csv"), Catch::Contains("empty"));
    Stats s = stats_of({1, 2, 3, NAN});
    REQUIRE(s.n == 3);
    REQUIRE(s.mean == 2.0);
    REQUIRE(s.std == 1.0);
    REQUIRE(verdict_from(2, 2) == "holds");
    REQUIRE(verdict_from(1, 2) == "holds partly");
    REQUIRE(verdict_from(0, 2) == "does not hold here");
    int k, n;
    parse_shard("2/3", k, n);
    REQUIRE((k == 1 && n == 3));
    REQUIRE_THROWS_AS(parse_shard("4/3", k, n), nn::Error);
    REQUIRE_THROWS_AS(parse_shard("1/3x", k, n), nn::Error);
}

TEST_CASE("report: sections round-trip through section.json and render", "[harness][report]") {
    std::string dir = "test-section";
    std::filesystem::remove_all(dir);
    nn::io::make_dirs(dir);
    Section s;
    s.experiment = "demo";
    s.title = "Demo";
    s.setup = "setup text";
    s.figures.push_back({"f.svg", "a figure", plot::scatter(plot::Axes{}, {{"x", {1}, {2}, {}}})});
    Table t({"k", "v"});
    t.add({"a|b", "1"});
    s.tables.push_back({"a table", t});
    s.verdicts.push_back({"C2", "scores work", "holds", "rule", "numbers"});
    s.notes.push_back("a surprise");
    write_section(dir, s);
    Section r = read_section(dir);
    REQUIRE(r.title == "Demo");
    REQUIRE(r.figures.size() == 1);
    REQUIRE(r.figures[0].svg == s.figures[0].svg);
    REQUIRE(r.tables[0].table.get(0, "k") == "a|b");
    REQUIRE(r.verdicts[0].verdict == "holds");
    std::string md = section_markdown(r, "figures");
    REQUIRE(md.find("a\\|b") != std::string::npos);
    REQUIRE(md.find("figures/demo-f.svg") != std::string::npos);
    std::string html = section_html(r);
    REQUIRE(html.find("<svg") != std::string::npos);
    REQUIRE(html.find("class=\"verdict holds\"") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("harness: a sharded run merges into the same table as an unsharded one", "[harness][shard]") {
    RunOptions a, b;
    a.profile = b.profile = Profile::Smoke;
    a.threads = b.threads = 1;
    a.out = "test-runs-unsharded";
    b.out = "test-runs-sharded";
    std::filesystem::remove_all(a.out);
    std::filesystem::remove_all(b.out);
    std::vector<std::string> flags = {"--models", "lenet300", "--seeds", "2"};
    std::string dir_a = run_experiment("baselines", a, flags);
    b.shard_count = 2;
    for (int k = 0; k < 2; k++) {
        b.shard_index = k;
        if (k == 0) REQUIRE_THROWS_WITH(merge_experiment("baselines", b, flags), Catch::Contains("not finished"));
        run_experiment("baselines", b, flags);
    }
    merge_experiment("baselines", b, flags);
    Table ta = Table::read(dir_a + "/results.csv");
    Table tb = Table::read(nn::io::join(b.out, "smoke/baselines/models=lenet300,seeds=2/results.csv"));
    REQUIRE(ta.size() == 2);
    REQUIRE(ta.columns() == tb.columns());
    for (size_t r = 0; r < ta.size(); r++)
        for (auto& c : ta.columns())
            if (c != "train_seconds") REQUIRE(ta.get(r, c) == tb.get(r, c));
    REQUIRE(dir_a.find("seeds=2") != std::string::npos);  // run folder named from non-default values
    REQUIRE(nn::io::exists(dir_a + "/run.json"));
    REQUIRE(nn::io::exists(dir_a + "/section.json"));
    std::filesystem::remove_all(a.out);
    std::filesystem::remove_all(b.out);
}

TEST_CASE("harness: point costs for the ETA scale with epochs, images and a model's MACs", "[harness]") {
    using experiments::eval_cost;
    using experiments::train_cost;
    CHECK(train_cost("lenet300", 1) == Approx(1.0));
    CHECK(train_cost("lenet300", 2, 27500) == Approx(1.0));
    CHECK(eval_cost("lenet300", 55000) == Approx(1.0 / 3));
    CHECK(experiments::macs_cost(266200.0 * 55000) == Approx(1.0));  // lenet300: 266,200 MACs per image
    // vgg's weight MACs per image are ~109x lenet300's; its measured epoch took ~110x as long.
    CHECK(train_cost("vgg", 1) > 100);
    CHECK(train_cost("vgg", 1) < 120);
    CHECK(train_cost("vgg:widths=16-16-32-32-64-64", 1) < train_cost("vgg", 1) / 3);
}

TEST_CASE("harness: fractional fine-tuning epochs stop early and end the cosine there", "[harness]") {
    Context ctx;
    nn::TrainConfig whole = finetune_config(ctx, 2, 0.01f, 1);
    CHECK(whole.epochs == 2);
    CHECK(whole.max_steps == 0);
    // 1000 images at batch 128 are 8 steps an epoch; half of one is 4, 1.5 epochs are 12.
    nn::TrainConfig half = finetune_config(ctx, 0.5, 0.01f, 1, 1000);
    CHECK(half.epochs == 1);
    CHECK(half.max_steps == 4);
    CHECK(finetune_config(ctx, 1.5, 0.01f, 1, 1000).max_steps == 12);
    CHECK(finetune_config(ctx, 0.01, 0.01f, 1, 1000).max_steps == 1);  // never zero steps
    CHECK_THROWS_WITH(finetune_config(ctx, 0.5, 0.01f, 1), Catch::Contains("training-set size"));
    CHECK_THROWS_WITH(finetune_config(ctx, 0, 0.01f, 1), Catch::Contains("must be > 0"));
}

TEST_CASE("harness: the suite trains each model for its preset's suite epochs, halved in the quick profile",
          "[harness]") {
    Context ctx;
    ctx.profile = Profile::Full;
    const TrainPreset& vgg = quick_preset("vgg");
    CHECK(ctx.recipe("vgg", 1).epochs == vgg.suite_epochs);
    CHECK(ctx.recipe("vgg:widths=16-16-32-32-64-64", 1).epochs == vgg.suite_epochs);
    CHECK(ctx.recipe("resnet20", 1).epochs == quick_preset("resnet20").suite_epochs);
    CHECK(ctx.recipe("vgg", 1).lr == vgg.lr);
    ctx.profile = Profile::Quick;
    CHECK(ctx.recipe("vgg", 1).epochs == vgg.suite_epochs / 2);
    CHECK(ctx.recipe("lenet300", 1).epochs == 10);
    ctx.profile = Profile::Smoke;
    CHECK(ctx.recipe("vgg", 1).max_steps == 30);
    // `secateurs train --model vgg` runs the longer CLI preset; the suite keeps the recipe its
    // committed reports were made with
    nn::TrainConfig cli;
    apply_preset(cli, "vgg", [](const std::string&) { return false; });
    CHECK(cli.epochs == vgg.epochs);
    CHECK(vgg.epochs > vgg.suite_epochs);
}

TEST_CASE("environment: run.json names the commit the binary was built from", "[harness]") {
    nn::json::Value env = nn::json::parse(environment_json(2), "environment");
    const nn::json::Value* git = env.find("git");
    const nn::json::Value* dirty = env.find("dirty");
    REQUIRE(git);
    REQUIRE(git->is_string());
    REQUIRE(dirty);
    REQUIRE(dirty->type == nn::json::Value::Type::Bool);
    INFO(git->text);
    if (git->text == "unknown") {
        // Only outside a git checkout.
        REQUIRE_FALSE(std::filesystem::exists(std::string(SECATEURS_SOURCE_DIR) + "/.git"));
        REQUIRE_FALSE(dirty->boolean);
    } else {
        REQUIRE(git->text.size() == 40);
        REQUIRE(git->text.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
    REQUIRE(env.find("threads")->text == "2");
}
