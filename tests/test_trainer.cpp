// Training end to end on small data: an MLP overfits one batch, runs are bit-identical for a fixed
// seed and thread count, and a run resumed from a checkpoint ends exactly where an uninterrupted
// run ends.
#include <cstdio>
#include <filesystem>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/threads.hpp"
#include "nn/trainer.hpp"

namespace {

// 256 random 28x28 "images" whose class is a fixed random linear function of the pixels.
data::ImageDataset synthetic(int64_t n, uint64_t seed) {
    data::ImageDataset d;
    d.images = testing::randn({n, 1, 28, 28}, seed);
    d.labels = nn::IntTensor(nn::Shape{n});
    nn::Tensor proj = testing::randn({784, 10}, 12345);
    nn::Tensor scores = nn::matmul(d.images.reshape({n, 784}), proj);
    d.labels = nn::argmax_rows(scores);
    return d;
}

std::vector<float> flat_weights(nn::Module& m) {
    std::vector<float> out;
    for (auto& [n, t] : m.state_dict()) {
        auto v = t.to_vector();
        out.insert(out.end(), v.begin(), v.end());
    }
    return out;
}

nn::TrainConfig small_config(const std::string& out = "") {
    nn::TrainConfig c;
    c.epochs = 3;
    c.batch_size = 32;
    c.lr = 0.05f;
    c.weight_decay = 1e-4f;
    c.progress = false;
    c.out_dir = out;
    return c;
}

}  // namespace

TEST_CASE("lenet300 overfits one batch", "[trainer][overfit]") {
    data::ImageDataset d = synthetic(32, 1);
    auto net = nn::make_model("lenet300", 1);
    nn::TrainConfig c = small_config();
    c.epochs = 60;
    c.schedule = "constant";
    nn::Trainer t(*net, c, d);
    t.fit();
    nn::EvalResult r = nn::evaluate(*net, d);
    REQUIRE(r.accuracy == 1.0);
    REQUIRE(r.loss < 0.05);
}

TEST_CASE("training is bit-identical for the same seed and thread count", "[trainer][determinism]") {
    data::ImageDataset d = synthetic(256, 2), v = synthetic(64, 3);
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        std::vector<float> w[2];
        std::vector<double> losses[2];
        for (int run = 0; run < 2; run++) {
            auto net = nn::make_model("lenet300", 7);
            nn::Trainer t(*net, small_config(), d, &v);
            auto r = t.fit();
            w[run] = flat_weights(*net);
            for (auto& row : r.history) losses[run].push_back(row.train_loss);
        }
        testing::require_equal(w[0], w[1], "weights");
        REQUIRE(losses[0] == losses[1]);
    }
    nn::set_num_threads(1);
}

TEST_CASE("a resumed run ends with the same weights as an uninterrupted one", "[trainer][resume]") {
    data::ImageDataset d = synthetic(256, 4), v = synthetic(64, 5);
    auto full = nn::make_model("lenet300", 9);
    {
        nn::Trainer t(*full, small_config(), d, &v);
        t.fit();
    }
    std::string dir = "test-resume-run";
    std::filesystem::remove_all(dir);
    auto part = nn::make_model("lenet300", 9);
    {
        nn::TrainConfig c = small_config(dir);
        c.checkpoint_every = 13;  // mid-epoch (8 steps per epoch)
        nn::Trainer t(*part, c, d, &v);
        // Crash one step after the checkpoint, as a killed run would.
        t.after_step = [](int64_t step) {
            if (step == 14) throw std::runtime_error("simulated crash");
        };
        REQUIRE_THROWS_WITH(t.fit(), "simulated crash");
    }
    auto resumed = nn::make_model("lenet300", 12345);  // different init: everything must come from the file
    nn::Trainer t(*resumed, small_config(dir), d, &v);
    REQUIRE(t.resume());
    REQUIRE(t.step() == 13);
    t.fit();
    testing::require_equal(flat_weights(*resumed), flat_weights(*full), "weights");
    std::filesystem::remove_all(dir);
}

TEST_CASE("a checkpoint from a different configuration is refused", "[trainer][resume][bad-input]") {
    data::ImageDataset d = synthetic(64, 6);
    std::string dir = "test-resume-mismatch";
    std::filesystem::remove_all(dir);
    auto net = nn::make_model("lenet300", 1);
    {
        nn::TrainConfig c = small_config(dir);
        c.epochs = 1;
        nn::Trainer t(*net, c, d);
        t.fit();
    }
    nn::TrainConfig c = small_config(dir);
    c.batch_size = 16;
    nn::Trainer t(*net, c, d);
    REQUIRE_THROWS_WITH(t.resume(), Catch::Contains("batch size 32") && Catch::Contains("uses 16"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a non-finite loss stops training with the step named", "[trainer][bad-input]") {
    data::ImageDataset d = synthetic(64, 6);
    auto net = nn::make_model("lenet300", 1);
    nn::TrainConfig c = small_config();
    c.lr = 1e30f;
    c.schedule = "constant";
    nn::Trainer t(*net, c, d);
    REQUIRE_THROWS_WITH(t.fit(), Catch::Contains("non-finite") && Catch::Contains("at step"));
}
