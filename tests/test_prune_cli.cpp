// The pruning command line and the IMP driver end to end: `secateurs prune` on a file round-trips
// (pruned tensors under their own names, <name>_mask, everything else and the metadata unchanged,
// masks equal to the library's), `summary` reads it back, bad options fail with one message; IMP
// on a tiny synthetic task writes its levels, compounds the rate, and resumes after a kill.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "helpers.hpp"
#include "subprocess.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/safetensors.hpp"
#include "prune/imp.hpp"
#include "prune/select.hpp"

namespace {

// Runs the tool; returns its exit status and fills `output` with stdout + stderr.
int run(const std::string& args, std::string& output) { return testing::run_secateurs(args, output, "test-prune-cli.log"); }

data::ImageDataset synthetic(int64_t n, uint64_t seed) {
    data::ImageDataset d;
    d.images = testing::randn({n, 1, 28, 28}, seed);
    nn::Tensor proj = testing::randn({784, 10}, 12345);
    d.labels = nn::argmax_rows(nn::matmul(d.images.reshape({n, 784}), proj));
    return d;
}

}  // namespace

TEST_CASE("secateurs prune: round trip on a file", "[prune][cli]") {
    testing::RemoveOnExit cleanup{"test-cli-in.safetensors",   "test-cli-out.safetensors", "test-cli-out2.safetensors",
                                  "test-cli-out3.safetensors", "test-cli-summary.csv",     "test-cli.recipe"};
    nn::st::File f;
    f.metadata["arch"] = "custom";
    f.metadata["origin"] = "test";
    nn::Tensor w1 = testing::randn({8, 6}, 1), w2 = testing::randn({4, 8}, 2), b1 = testing::randn({8}, 3);
    f.put("enc.weight", w1);
    f.put("enc.bias", b1);
    f.put("head.weight", w2);
    f.put_int("step", nn::IntTensor::from_vector({42}, {1}));
    f.write("test-cli-in.safetensors");
    std::string out;
    REQUIRE(run("prune --in test-cli-in.safetensors --out test-cli-out.safetensors --method l1_unstructured --amount 0.5",
                out) == 0);
    INFO(out);
    nn::st::File g = nn::st::File::read("test-cli-out.safetensors");
    REQUIRE(g.metadata == f.metadata);
    REQUIRE(g.find("enc.bias")->bytes == f.find("enc.bias")->bytes);
    REQUIRE(g.find("step")->bytes == f.find("step")->bytes);
    REQUIRE(!g.contains("enc.bias_mask"));
    for (auto& [name, w] : {std::pair<std::string, nn::Tensor>{"enc.weight", w1}, {"head.weight", w2}}) {
        nn::Tensor want = prune::l1_unstructured(w, prune::Amount::fraction(0.5));
        testing::require_equal(g.tensor(name + "_mask").to_vector(), want.to_vector(), name);
        std::vector<float> masked = w.to_vector();
        for (size_t i = 0; i < masked.size(); i++)
            if (want.data()[i] == 0.0f) masked[i] = 0.0f;
        testing::require_equal(g.tensor(name).to_vector(), masked, name);
    }
    // Pruning the output again prunes among survivors: 24 of 48 left, 0.5 of them -> 12 left.
    REQUIRE(run("prune --in test-cli-out.safetensors --out test-cli-out2.safetensors --method ln_structured --n 2 "
                "--dim 0 --amount 1 --params enc.weight",
                out) == 0);
    nn::st::File h = nn::st::File::read("test-cli-out2.safetensors");
    nn::Tensor m2 = prune::ln_structured(g.tensor("enc.weight"), prune::Amount::count(1), 2, 0, g.tensor("enc.weight_mask"));
    testing::require_equal(h.tensor("enc.weight_mask").to_vector(), m2.to_vector(), "repeated");
    REQUIRE(h.find("head.weight_mask")->bytes == g.find("head.weight_mask")->bytes);
    // summary reads the masks back
    REQUIRE(run("summary test-cli-out2.safetensors --csv test-cli-summary.csv", out) == 0);
    REQUIRE(out.find("enc.weight") != std::string::npos);
    REQUIRE(out.find("total") != std::string::npos);
    std::string csv = nn::io::read_text("test-cli-summary.csv");
    REQUIRE(csv.find("head.weight,4x8,32,16,0.500000,,1,16,16,") != std::string::npos);
    // a recipe through the command line
    nn::io::write_text_atomic("test-cli.recipe", "[step]\nparams = *.weight\nmethod = l1_unstructured\namount = 0.25\nscope = global\n");
    REQUIRE(run("prune --in test-cli-in.safetensors --out test-cli-out3.safetensors --recipe test-cli.recipe", out) == 0);
    nn::st::File r = nn::st::File::read("test-cli-out3.safetensors");
    auto gm = prune::global_unstructured({w1, w2}, prune::Amount::fraction(0.25));
    testing::require_equal(r.tensor("enc.weight_mask").to_vector(), gm[0].to_vector(), "recipe global");
    testing::require_equal(r.tensor("head.weight_mask").to_vector(), gm[1].to_vector(), "recipe global");
}

TEST_CASE("secateurs prune: bad options and inputs fail with one message", "[prune][cli][bad-input]") {
    testing::RemoveOnExit cleanup{"test-cli-bad.safetensors", "test-cli-good.safetensors", "test-cli-torch.safetensors",
                                  "test-cli-x.safetensors"};
    nn::st::File f;
    f.put("w", testing::randn({4, 4}, 1));
    f.put("v_mask", nn::Tensor::ones({2}));
    f.write("test-cli-bad.safetensors");
    nn::st::File g;
    g.put("w", testing::randn({4, 4}, 1));
    g.write("test-cli-good.safetensors");
    nn::st::File t;
    t.put("fc.weight_orig", testing::randn({4, 4}, 1));
    t.put("fc.weight_mask", nn::Tensor::ones({4, 4}));
    t.write("test-cli-torch.safetensors");
    std::string out;
    const std::string io = "--in test-cli-good.safetensors --out test-cli-x.safetensors ";
    REQUIRE(run("prune " + io + "--method bogus --amount 0.5", out) == 1);
    REQUIRE(out.find("--method 'bogus'") != std::string::npos);
    REQUIRE(run("prune " + io + "--method l1_unstructured --amount 1.5", out) == 1);
    REQUIRE(out.find("range [0, 1]") != std::string::npos);
    REQUIRE(run("prune " + io + "--method l1_unstructured --amount 17", out) == 1);
    REQUIRE(out.find("amount=17 should be smaller than the number of parameters to prune=16") != std::string::npos);
    REQUIRE(run("prune " + io + "--method ln_structured --amount 1", out) == 1);
    REQUIRE(out.find("needs --n") != std::string::npos);
    REQUIRE(run("prune " + io + "--method l1_unstructured --amount 1 --params nope", out) == 1);
    REQUIRE(out.find("'nope' matches no parameter") != std::string::npos);
    REQUIRE(run("prune --in test-cli-bad.safetensors --out test-cli-x.safetensors --method l1_unstructured --amount 1", out) == 1);
    REQUIRE(out.find("mask 'v_mask' has no tensor 'v'") != std::string::npos);
    REQUIRE(run("prune --in test-cli-torch.safetensors --out test-cli-x.safetensors --method l1_unstructured --amount 1", out) == 1);
    REQUIRE(out.find("torch.nn.utils.prune.remove") != std::string::npos);
    REQUIRE(run("prune --in missing.safetensors --out test-cli-x.safetensors --method l1_unstructured --amount 1", out) == 1);
    REQUIRE(out.find("missing.safetensors") != std::string::npos);
    REQUIRE(!nn::io::exists("test-cli-x.safetensors"));
}

namespace {

// A training set that throws at its n-th batch, as a killed process would stop.
class Crashing : public data::Dataset {
public:
    Crashing(const data::Dataset& inner, int64_t crash_at) : inner_(inner), crash_at_(crash_at) {}
    int64_t size() const override { return inner_.size(); }
    int n_classes() const override { return inner_.n_classes(); }
    void gather(const int64_t* idx, int64_t n, data::Batch& out, nn::Rng* rng) const override {
        if (++calls_ == crash_at_) throw std::runtime_error("simulated kill");
        inner_.gather(idx, n, out, rng);
    }

private:
    const data::Dataset& inner_;
    int64_t crash_at_;
    mutable int64_t calls_ = 0;
};

}  // namespace

TEST_CASE("secateurs thin --eval: masked as given, with the removed units' shifts zeroed, and thinned", "[prune][cli][thin]") {
    // lenet5 with conv1 filters 0 and 1 masked but their biases left large: after ReLU those
    // channels carry a constant into conv2, which thinning drops. The tool must say so and measure
    // both masked variants; the thinned model equals the one with the shifts zeroed.
    auto m = nn::make_model("lenet5", 5);
    nn::Tensor w = m->parameter("conv1.weight"), b = m->parameter("conv1.bias");
    nn::Tensor mask = nn::Tensor::ones(w.shape());
    for (int64_t i = 0; i < 2 * 25; i++) mask.data()[i] = 0.0f;
    testing::RemoveOnExit cleanup{"test-thin-eval-in.safetensors", "test-thin-eval-out.safetensors"};
    auto write_checkpoint = [&](float bias0, float bias1) {
        b.data()[0] = bias0;
        b.data()[1] = bias1;
        nn::st::File f;
        nn::put_module(f, *m);
        f.put("conv1.weight_mask", mask);
        f.metadata["arch"] = "lenet5";
        f.write("test-thin-eval-in.safetensors");
    };
    write_checkpoint(3.0f, 2.0f);
    std::string out;
    REQUIRE(run("thin --in test-thin-eval-in.safetensors --out test-thin-eval-out.safetensors --eval", out) == 0);
    INFO(out);
    REQUIRE(out.find("lenet5 -> lenet5:hidden=120-84,widths=4-16") != std::string::npos);
    REQUIRE(out.find("note: 2 non-zero biases") != std::string::npos);
    // "test accuracy: masked A% (loss L), with the removed units' shifts zeroed B% (loss M), thinned C% (loss N)"
    double a, la, z, lz, t, lt;
    size_t at = out.find("test accuracy: masked ");
    REQUIRE(at != std::string::npos);
    REQUIRE(std::sscanf(out.c_str() + at,
                        "test accuracy: masked %lf%% (loss %lf), with the removed units' shifts zeroed %lf%% (loss %lf), "
                        "thinned %lf%% (loss %lf)",
                        &a, &la, &z, &lz, &t, &lt) == 6);
    REQUIRE(t == z);
    REQUIRE(lt == lz);
    REQUIRE(la != lz);  // the constant channels reached the logits
    // Without stray shifts there is no note and one masked figure.
    write_checkpoint(0.0f, 0.0f);
    REQUIRE(run("thin --in test-thin-eval-in.safetensors --out test-thin-eval-out.safetensors --eval", out) == 0);
    REQUIRE(out.find("note:") == std::string::npos);
    REQUIRE(out.find("shifts zeroed") == std::string::npos);
    REQUIRE(std::sscanf(out.c_str() + out.find("test accuracy: masked "),
                        "test accuracy: masked %lf%% (loss %lf), thinned %lf%% (loss %lf)", &a, &la, &t, &lt) == 4);
    REQUIRE(t == a);
    REQUIRE(lt == la);
}

TEST_CASE("IMP: levels compound the rate, masks shrink, a killed run resumes bit-identically", "[prune][imp]") {
    data::ImageDataset train = synthetic(192, 1), val = synthetic(64, 2), test = synthetic(64, 3);
    std::string dir = "test-imp-run", dir2 = "test-imp-run2";
    std::filesystem::remove_all(dir);
    std::filesystem::remove_all(dir2);
    prune::ImpConfig cfg;
    cfg.model = "lenet300:hidden=24-12";
    cfg.levels = 3;
    cfg.rate = 0.5;
    cfg.output_rate = 0.25;
    cfg.train.epochs = 2;  // 6 steps per epoch
    cfg.train.batch_size = 32;
    cfg.train.lr = 0.05f;
    cfg.train.eval_every = 3;
    cfg.train.progress = false;
    cfg.progress = false;
    cfg.out_dir = dir;
    auto full = prune::run_imp(cfg, train, val, test);
    REQUIRE(full.size() == 4);
    // Each layer keeps n - round(rate * n) per level (fc3, the output layer, at its own rate).
    auto kept_after = [](int64_t n, double rate, int64_t levels) {
        for (int64_t l = 0; l < levels; l++) n -= prune::round_half_even(rate * double(n));
        return n;
    };
    const int64_t n1 = 784 * 24, n2 = 24 * 12, n3 = 12 * 10;
    for (int64_t L = 0; L <= 3; L++) {
        double want = double(kept_after(n1, 0.5, L) + kept_after(n2, 0.5, L) + kept_after(n3, 0.25, L)) / double(n1 + n2 + n3);
        REQUIRE(full[size_t(L)].level == L);
        REQUIRE(std::fabs(full[size_t(L)].density - want) < 1e-6);
        REQUIRE(full[size_t(L)].best_step > 0);
    }
    REQUIRE(prune::read_imp_csv(dir + "/imp.csv").size() == 4);
    for (int L = 1; L < 3; L++) {
        auto a = nn::st::File::read(dir + "/level_0" + std::to_string(L) + "/masks.safetensors").tensor("fc1.weight_mask").to_vector();
        auto b = nn::st::File::read(dir + "/level_0" + std::to_string(L + 1) + "/masks.safetensors").tensor("fc1.weight_mask").to_vector();
        for (size_t i = 0; i < a.size(); i++) REQUIRE(b[i] <= a[i]);  // masks only shrink across levels
    }
    // The final weights of a level are zero wherever its mask is.
    nn::st::File last = nn::st::File::read(dir + "/level_03/model.safetensors");
    auto w = last.tensor("fc2.weight").to_vector(), m = last.tensor("fc2.weight_mask").to_vector();
    for (size_t i = 0; i < w.size(); i++)
        if (m[i] == 0.0f) REQUIRE(w[i] == 0.0f);

    // Killed inside level 2 (its 7th batch, after the epoch-end checkpoint at step 6), then resumed.
    cfg.out_dir = dir2;
    Crashing crashing(train, 2 * 12 + 7);
    REQUIRE_THROWS_WITH(prune::run_imp(cfg, crashing, val, test), "simulated kill");
    REQUIRE(prune::read_imp_csv(dir2 + "/imp.csv").size() == 2);
    auto resumed = prune::run_imp(cfg, train, val, test);
    REQUIRE(resumed.size() == 4);
    for (size_t L = 0; L < 4; L++) {
        REQUIRE(resumed[L].density == full[L].density);
        REQUIRE(resumed[L].test_acc == full[L].test_acc);
        REQUIRE(resumed[L].best_val_acc == full[L].best_val_acc);
        REQUIRE(resumed[L].best_step == full[L].best_step);
    }
    nn::st::File b = nn::st::File::read(dir2 + "/level_03/model.safetensors");
    testing::require_equal(b.tensor("fc1.weight").to_vector(), last.tensor("fc1.weight").to_vector(), "level 3 weights");
    // Running again does nothing more; a changed configuration in the same directory is refused.
    REQUIRE(prune::run_imp(cfg, train, val, test).size() == 4);
    cfg.rate = 0.3;
    REQUIRE_THROWS_WITH(prune::run_imp(cfg, train, val, test), Catch::Contains("different configuration"));
    // Controls reuse the ticket's masks: same densities per level.
    cfg.rate = 0.5;
    cfg.out_dir = dir;
    cfg.control = "random-mask";
    auto control = prune::run_imp(cfg, train, val, test);
    REQUIRE(control.size() == 3);
    for (size_t k = 0; k < 3; k++) REQUIRE(control[k].density == full[k + 1].density);
    std::filesystem::remove_all(dir);
    std::filesystem::remove_all(dir2);
}

TEST_CASE("IMP with rewinding to step k and with fine-tuning", "[prune][imp][rewind]") {
    data::ImageDataset train = synthetic(128, 1), val = synthetic(32, 2), test = synthetic(32, 3);
    std::string dir = "test-imp-rewind";
    std::filesystem::remove_all(dir);
    prune::ImpConfig cfg;
    cfg.model = "lenet300:hidden=24-12";
    cfg.levels = 1;
    cfg.rate = 0.5;
    cfg.rewind = "step:3";
    cfg.train.epochs = 2;  // 4 steps per epoch
    cfg.train.batch_size = 32;
    cfg.train.progress = false;
    cfg.progress = false;
    cfg.out_dir = dir;
    auto levels = prune::run_imp(cfg, train, val, test);
    REQUIRE(levels.size() == 2);
    nn::st::File thetak = nn::st::File::read(dir + "/theta_k.safetensors");
    REQUIRE(thetak.metadata.at("step") == "3");
    // theta_3 differs from theta_0: three steps were taken
    nn::st::File theta0 = nn::st::File::read(dir + "/theta_0.safetensors");
    REQUIRE(thetak.tensor("fc1.weight").to_vector() != theta0.tensor("fc1.weight").to_vector());
    // level 1 trains from step 3 to the end: its metrics start after step 3
    std::string metrics = nn::io::read_text(dir + "/level_01/metrics.csv");
    REQUIRE(metrics.find("\n4,") != std::string::npos);
    REQUIRE(metrics.find("\n3,") == std::string::npos);
    REQUIRE(levels[1].steps == 8);
    std::filesystem::remove_all(dir);
    cfg.rewind = "step:99";
    REQUIRE_THROWS_WITH(prune::run_imp(cfg, train, val, test), Catch::Contains("beyond the 8 steps"));
    std::filesystem::remove_all(dir);
    cfg.rewind = "none";
    cfg.finetune_epochs = 1;
    cfg.finetune_lr = 0.01f;
    levels = prune::run_imp(cfg, train, val, test);
    REQUIRE(levels[1].steps == 4);  // one fine-tuning epoch
    std::filesystem::remove_all(dir);
    cfg.rewind = "sometimes";
    REQUIRE_THROWS_WITH(prune::run_imp(cfg, train, val, test), Catch::Contains("expected init, step:K or none"));
    std::filesystem::remove_all(dir);
}
