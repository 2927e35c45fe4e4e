// The typed option table used by the CLI and the experiments.
#include <catch2/catch.hpp>

#include "experiments/args.hpp"
#include "experiments/crash.hpp"
#include "nn/models.hpp"
#include "nn/check.hpp"

TEST_CASE("args: typed options, defaults, changed values and errors", "[args]") {
    int epochs = 10;
    float lr = 0.1f;
    bool verbose = false;
    std::string model = "lenet300", file;
    uint64_t seed = 1;
    auto make = [&] {
        experiments::Args a("prog", "summary");
        a.add("epochs", &epochs, "epochs").add("lr", &lr, "lr").add("verbose", &verbose, "v");
        a.add("model", &model, "model").add("seed", &seed, "seed").positional("file", &file, "input");
        return a;
    };
    experiments::Args a = make();
    REQUIRE(a.parse(std::vector<std::string>{"--epochs", "3", "--lr=0.5", "--verbose", "in.bin", "--model", "vgg"}));
    REQUIRE(epochs == 3);
    REQUIRE(lr == 0.5f);
    REQUIRE(verbose);
    REQUIRE(model == "vgg");
    REQUIRE(file == "in.bin");
    auto changed = a.changed();
    REQUIRE(changed == std::vector<std::string>{"epochs=3", "lr=0.5", "verbose=true", "model=vgg"});
    REQUIRE(a.help().find("--epochs") != std::string::npos);
    REQUIRE(a.help().find("(default: 10)") != std::string::npos);
    // given: set on the command line, even to the default value; seed was not
    REQUIRE(a.given("epochs"));
    REQUIRE_FALSE(a.given("seed"));
    REQUIRE_THROWS_WITH(a.given("nope"), Catch::Contains("no option named nope"));
    experiments::Args d = make();
    REQUIRE(d.parse(std::vector<std::string>{"--epochs", "3"}));  // 3 is d's default: unchanged, yet given
    REQUIRE(d.changed().empty());
    REQUIRE(d.given("epochs"));
    REQUIRE_FALSE(d.given("lr"));

    experiments::Args b = make();
    REQUIRE_THROWS_WITH(b.parse(std::vector<std::string>{"--epoch", "3"}), Catch::Contains("unknown option --epoch"));
    REQUIRE_THROWS_WITH(b.parse(std::vector<std::string>{"--epochs", "three"}), Catch::Contains("expects an integer"));
    REQUIRE_THROWS_WITH(b.parse(std::vector<std::string>{"--lr", "1e"}), Catch::Contains("expects a number"));
    REQUIRE_THROWS_WITH(b.parse(std::vector<std::string>{"--seed", "-1"}), Catch::Contains("non-negative"));
    REQUIRE_THROWS_WITH(b.parse(std::vector<std::string>{"--epochs"}), Catch::Contains("needs a value"));
    REQUIRE_THROWS_WITH(b.parse(std::vector<std::string>{"--verbose=maybe"}), Catch::Contains("true or false"));
    REQUIRE_THROWS_WITH(b.parse(std::vector<std::string>{"--epochs", "99999999999"}), Catch::Contains("out of range"));
    experiments::Args c = make();
    REQUIRE_THROWS_WITH(c.parse(std::vector<std::string>{"x", "y"}), Catch::Contains("unexpected argument 'y'"));
}

TEST_CASE("crash points and model specs: malformed values are refused", "[args][bad-input]") {
    using experiments::CrashPoint;
    REQUIRE(CrashPoint::parse("").step == -1);
    CrashPoint p = CrashPoint::parse("14:write");
    REQUIRE(p.step == 14);
    REQUIRE(p.where == CrashPoint::Where::CheckpointWrite);
    REQUIRE(CrashPoint::parse("21:link").where == CrashPoint::Where::CheckpointLink);
    REQUIRE(CrashPoint::parse("7").where == CrashPoint::Where::AfterStep);
    REQUIRE_THROWS_WITH(CrashPoint::parse("3:foo"), Catch::Contains("--crash-at '3:foo': unknown point 'foo' (expected write or link)"));
    for (const char* bad : {"0", "-2", "x", ":write", "5x"})
        REQUIRE_THROWS_WITH(CrashPoint::parse(bad), Catch::Contains("expected STEP, STEP:write or STEP:link with STEP > 0"));
    REQUIRE_THROWS_WITH(nn::make_model("alexnet", 1), Catch::Contains("unknown model 'alexnet' (known: lenet300, "));
    REQUIRE_THROWS_WITH(nn::make_model("lenet300:hidden=3x", 1),
                        Catch::Contains("model spec 'lenet300:hidden=3x': option hidden='3x' must be positive integers joined by '-'"));
    REQUIRE_THROWS_WITH(nn::make_model("lenet300:hidden", 1), Catch::Contains("option 'hidden' is not key=value"));
    REQUIRE_THROWS_WITH(nn::make_model("lenet300:hidden=0-5", 1), Catch::Contains("must be positive integers"));
}
