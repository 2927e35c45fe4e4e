// Training end to end on small data: an MLP overfits one batch, runs are bit-identical for a fixed
// seed and thread count, a run resumed from a checkpoint ends exactly where an uninterrupted run
// ends, checkpoints hold everything and are kept K deep, and every way a run can go wrong (an
// unwritable or full output directory, a write failing mid-run, non-finite values, damaged files)
// stops it with a clear error and a good checkpoint left behind.
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/layers.hpp"
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

std::string fresh_dir(const std::string& name) {
    std::filesystem::remove_all(name);
    return name;
}

// Lowers the file-size limit (as a full disk would refuse writes: they fail with EFBIG) until
// destroyed; SIGXFSZ is ignored meanwhile so the failing write returns an error instead of killing
// the process.
class FileSizeLimit {
public:
    FileSizeLimit() {
        ::getrlimit(RLIMIT_FSIZE, &saved_);
        old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    }
    void set(rlim_t bytes) {
        rlimit r = saved_;
        r.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &r) == 0);
    }
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        ::signal(SIGXFSZ, old_handler_);
    }

private:
    rlimit saved_{};
    sighandler_t old_handler_;
};

// Runs fn where permission bits apply and returns the message of the nn::Error it threw ("" if
// none). Root ignores permission bits, so as root fn runs in a child process that drops to the
// unprivileged user "nobody" (uid/gid 65534) first.
std::string error_without_root(const std::function<void()>& fn) {
    auto call = [&]() -> std::string {
        try {
            fn();
        } catch (const nn::Error& e) {
            return e.what();
        }
        return "";
    };
    if (::geteuid() != 0) return call();
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string msg = ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0
                              ? call()
                              : std::string("cannot drop privileges");
        ssize_t unused = ::write(fds[1], msg.data(), msg.size());
        (void)unused;
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, size_t(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    return msg;
}

std::vector<std::string> temp_files(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& name : nn::io::list_dir(dir))
        if (name.find(".tmp-") != std::string::npos) out.push_back(name);
    return out;
}

int64_t checkpoint_step(const std::string& path) {
    return std::stoll(nn::st::File::read(path).metadata.at("trainer.step"));
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

TEST_CASE("flush-to-zero: denormals vanish on every pool thread while on, and training results do not change",
          "[trainer][denormals]") {
    bool before = nn::flush_denormals();
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        for (bool on : {true, false}) {
            INFO("threads " << threads << " flush " << on);
            nn::set_flush_denormals(on);
            REQUIRE(nn::flush_denormals() == on);
            std::vector<float> flushed(size_t(threads), -1.0f), read(size_t(threads), -1.0f);
            nn::parallel_run([&](int t) {
                volatile float tiny = 1e-30f, denormal = 1e-40f;   // 1e-40 is below FLT_MIN (1.2e-38)
                flushed[size_t(t)] = tiny * 1e-10f;                // FTZ: a denormal result becomes 0
                read[size_t(t)] = denormal * 1.0f;                 // DAZ: a denormal input reads as 0
            });
            for (int t = 0; t < threads; t++) {
                REQUIRE((flushed[size_t(t)] == 0.0f) == on);
                REQUIRE((read[size_t(t)] == 0.0f) == on);
            }
        }
    }
    // The same CNN (BatchNorm, convolutions, pooling) trained with and without flushing ends with the
    // same accuracy and, to rounding, the same weights: nothing in a normal run lives in the denormal
    // range, so the flag only changes speed where values drift there.
    data::ImageDataset d = synthetic(256, 4), v = synthetic(64, 5);
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        std::vector<float> w[2];
        double acc[2];
        for (int on = 0; on < 2; on++) {
            auto net = nn::make_model("vgg:widths=4-4-8-8-8-8,hidden=16", 3);
            nn::TrainConfig c = small_config();
            c.flush_denormals = on;
            nn::Trainer t(*net, c, d, &v);
            t.fit();
            REQUIRE(nn::flush_denormals() == before);  // fit() restores the caller's setting
            w[on] = flat_weights(*net);
            acc[on] = nn::evaluate(*net, v).accuracy;
        }
        REQUIRE(acc[0] == acc[1]);
        testing::require_close(w[1], w[0], 1e-6f, 1e-5f, "weights with and without flush-to-zero");
    }
    nn::set_num_threads(1);
    nn::set_flush_denormals(before);
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
    // The weights are huge but finite (their squares would overflow float: the check must not say
    // they are non-finite); the message names the layer holding the largest one.
    REQUIRE_THROWS_WITH(t.fit(), Catch::Contains("non-finite loss") && Catch::Contains("at step 1 (epoch 0)") &&
                                     Catch::Contains("parameters are finite; the largest weight is in 'fc") &&
                                     Catch::Contains("so activations overflowed"));
}

TEST_CASE("checkpoints: the newest K step files are kept and last names the newest", "[trainer][checkpoint]") {
    data::ImageDataset d = synthetic(128, 20);
    for (int keep : {0, 1, 3}) {
        std::string dir = fresh_dir("test-keep-" + std::to_string(keep));
        auto net = nn::make_model("lenet300", 1);
        nn::TrainConfig c = small_config(dir);
        c.epochs = 2;  // 4 steps per epoch: checkpoints at 3, 4, 6, 8
        c.checkpoint_every = 3;
        c.keep_checkpoints = keep;
        nn::Trainer t(*net, c, d);
        t.fit();
        std::vector<int64_t> steps;
        for (auto& [step, path] : nn::Trainer::list_checkpoints(dir)) steps.push_back(step);
        std::vector<int64_t> expected = keep == 0 ? std::vector<int64_t>{} : keep == 1 ? std::vector<int64_t>{8}
                                                                                       : std::vector<int64_t>{4, 6, 8};
        REQUIRE(steps == expected);
        REQUIRE(checkpoint_step(nn::io::join(dir, "last.safetensors")) == 8);
        if (keep > 0) {
            struct stat a{}, b{};
            REQUIRE(::stat(nn::io::join(dir, "last.safetensors").c_str(), &a) == 0);
            REQUIRE(::stat(nn::io::join(dir, "checkpoint-8.safetensors").c_str(), &b) == 0);
            REQUIRE(a.st_ino == b.st_ino);  // one file, two names: no extra disk space
        }
        REQUIRE(temp_files(dir).empty());
        std::filesystem::remove_all(dir);
    }
}

TEST_CASE("checkpoints hold everything a run needs: masks, metadata, dropout and augmentation RNG, schedule",
          "[trainer][checkpoint][resume]") {
    // A model with dropout (op_rng), augmented data (the loader's per-batch RNG), Adam with a warm-up
    // schedule and clipping, and a pruning-like mask kept by the hooks: crashed mid-epoch and resumed
    // into a model built from a different seed, it must end bit-identical to the uninterrupted run.
    data::ImageDataset d = synthetic(160, 21);
    d.augment.crop_padding = 2;
    d.augment.hflip = true;
    auto build = [](uint64_t seed) {
        nn::Rng rng(seed);
        auto m = std::make_shared<nn::Sequential>();
        m->add(nn::Flatten()).add(std::make_shared<nn::Linear>(784, 32, true, rng)).add(nn::ReLU());
        m->add(std::make_shared<nn::Dropout>(0.3f)).add(std::make_shared<nn::Linear>(32, 10, true, rng));
        return m;
    };
    nn::TrainConfig c = small_config();
    c.optimizer = "adam";
    c.lr = 3e-3f;
    c.schedule = "warmup-cosine";
    c.warmup_fraction = 0.2f;
    c.clip_grad_norm = 1.0f;
    // The "pruner": a mask on 1.weight, re-applied after every step, saved with a level in metadata.
    struct Pruner {
        nn::Tensor mask;
        int level = 0;
        void attach(nn::Trainer& t, nn::Module& m) {
            nn::Tensor w = m.parameter("1.weight");
            t.after_step = [this, w](int64_t step) mutable {
                if (step == 5) {  // prune every third weight at step 5 ("level 1")
                    for (int64_t i = 0; i < mask.numel(); i += 3) mask.data()[i] = 0.0f;
                    level = 1;
                }
                for (int64_t i = 0; i < w.numel(); i++) w.data()[i] *= mask.data()[i];
            };
            t.save_extra = [this](nn::st::File& f) {
                f.put("mask.1.weight", mask);
                f.metadata["prune.level"] = std::to_string(level);
            };
            t.load_extra = [this](const nn::st::File& f) {
                mask.copy_(f.tensor("mask.1.weight"));
                level = std::stoi(f.metadata.at("prune.level"));
            };
        }
    };
    auto full = build(5);
    Pruner pf{nn::Tensor::ones({32, 784})};
    nn::manual_seed(77);
    {
        nn::Trainer t(*full, c, d);
        pf.attach(t, *full);
        t.fit();
    }
    std::string dir = fresh_dir("test-resume-everything");
    auto part = build(5);
    Pruner pp{nn::Tensor::ones({32, 784})};
    nn::manual_seed(77);
    {
        nn::TrainConfig cc = c;
        cc.out_dir = dir;
        cc.checkpoint_every = 7;  // 5 steps per epoch: the checkpoint at 7 is mid-epoch, after pruning
        nn::Trainer t(*part, cc, d);
        pp.attach(t, *part);
        auto inner = t.after_step;
        t.after_step = [inner](int64_t step) {
            inner(step);
            if (step == 9) throw std::runtime_error("simulated crash");
        };
        REQUIRE_THROWS_WITH(t.fit(), "simulated crash");
    }
    nn::st::File saved = nn::st::File::read(nn::io::join(dir, "last.safetensors"));
    for (const char* key : {"trainer.step", "trainer.op_rng", "trainer.seed", "trainer.optimizer_steps",
                            "trainer.epoch_loss", "trainer.epoch_seen", "trainer.schedule", "trainer.total_steps",
                            "trainer.warmup_fraction", "trainer.lr", "trainer.train_examples", "trainer.best_step",
                            "prune.level"})
        REQUIRE(saved.metadata.count(key) == 1);
    REQUIRE(saved.metadata.at("prune.level") == "1");
    REQUIRE(saved.contains("mask.1.weight"));
    REQUIRE(saved.contains("optimizer.1.weight.exp_avg"));
    REQUIRE(saved.contains("optimizer.1.weight.exp_avg_sq"));

    auto resumed = build(999);
    Pruner pr{nn::Tensor::ones({32, 784})};
    nn::manual_seed(12345);  // must be overwritten by the checkpoint's op_rng state
    nn::TrainConfig cc = c;
    cc.out_dir = dir;
    cc.checkpoint_every = 7;
    nn::Trainer t(*resumed, cc, d);
    pr.attach(t, *resumed);
    REQUIRE(t.resume());
    REQUIRE(t.step() == 7);
    REQUIRE(pr.level == 1);
    t.fit();
    testing::require_equal(flat_weights(*resumed), flat_weights(*full), "weights");
    testing::require_equal(pr.mask.to_vector(), pf.mask.to_vector(), "mask");
    std::filesystem::remove_all(dir);
}

TEST_CASE("resume: metrics rows after the checkpoint's step are dropped, and a torn row too",
          "[trainer][resume][metrics]") {
    data::ImageDataset d = synthetic(128, 22), v = synthetic(32, 23);
    std::string dir = fresh_dir("test-resume-metrics");
    auto read_steps = [&] {
        std::ifstream in(nn::io::join(dir, "metrics.csv"));
        std::string line;
        std::vector<std::string> steps;
        while (std::getline(in, line)) steps.push_back(line.substr(0, line.find(',')));
        return steps;
    };
    auto net = nn::make_model("lenet300", 1);
    nn::TrainConfig c = small_config(dir);
    c.epochs = 2;
    c.eval_every = 1;          // a row at every step
    c.checkpoint_every = 3;
    {
        nn::Trainer t(*net, c, d, &v);
        t.after_step = [](int64_t step) {
            if (step == 6) throw std::runtime_error("simulated crash");
        };
        REQUIRE_THROWS(t.fit());
    }
    // Checkpoints at 3 and 4 (epoch end); rows up to 5 were written before the crash at step 6.
    REQUIRE(read_steps() == std::vector<std::string>{"step", "1", "2", "3", "4", "5"});
    {
        std::ofstream out(nn::io::join(dir, "metrics.csv"), std::ios::app);
        out << "6,0.62";  // a row cut short by the kill
    }
    // The run had trained 1000.5 s by the checkpoint's row: the resumed process counts on from there.
    {
        std::string text = nn::io::read_text(nn::io::join(dir, "metrics.csv"));
        size_t row4 = text.find("\n4,") + 1, end = text.find('\n', row4);
        std::string row = text.substr(row4, end - row4);
        size_t last = row.rfind(','), prev = row.rfind(',', last - 1);
        row = row.substr(0, prev + 1) + "1000.5" + row.substr(last);
        nn::io::write_text_atomic(nn::io::join(dir, "metrics.csv"), text.substr(0, row4) + row + text.substr(end));
    }
    nn::Trainer t(*net, c, d, &v);
    REQUIRE(t.resume());
    REQUIRE(t.step() == 4);
    REQUIRE(read_steps() == std::vector<std::string>{"step", "1", "2", "3", "4"});
    nn::TrainResult r = t.fit();
    REQUIRE(read_steps() == std::vector<std::string>{"step", "1", "2", "3", "4", "5", "6", "7", "8"});
    REQUIRE(r.history.size() == 4);
    for (const nn::MetricsRow& row : r.history) REQUIRE(row.seconds >= 1000.5);
    REQUIRE(r.seconds >= r.history.back().seconds);
    REQUIRE(r.seconds < 1000.5 + 600);
    std::filesystem::remove_all(dir);
}

TEST_CASE("resume: a damaged newest checkpoint is skipped for the newest good one", "[trainer][resume][bad-input]") {
    data::ImageDataset d = synthetic(128, 24);
    std::string dir = fresh_dir("test-resume-damaged");
    auto net = nn::make_model("lenet300", 1);
    nn::TrainConfig c = small_config(dir);
    c.epochs = 2;
    c.checkpoint_every = 3;
    {
        nn::Trainer t(*net, c, d);
        t.after_step = [](int64_t step) {
            if (step == 7) throw std::runtime_error("simulated crash");
        };
        REQUIRE_THROWS(t.fit());
    }
    // Checkpoints at 3, 4 (epoch end), 6; damage the newest (last and checkpoint-6 are one file).
    std::string last = nn::io::join(dir, "last.safetensors");
    std::vector<uint8_t> bytes = nn::io::read_file(last);
    bytes.resize(bytes.size() / 2);
    nn::io::write_file_atomic(last, bytes.data(), bytes.size());
    nn::io::write_file_atomic(nn::io::join(dir, "checkpoint-6.safetensors"), bytes.data(), bytes.size());
    nn::Trainer t(*net, c, d);
    REQUIRE(t.resume());
    REQUIRE(t.step() == 4);
    REQUIRE(t.resumed_from() == nn::io::join(dir, "checkpoint-4.safetensors"));
    t.fit();  // rewrites checkpoint-6 and last
    REQUIRE(checkpoint_step(last) == 8);
    std::filesystem::remove_all(dir);
}

TEST_CASE("resume: a checkpoint whose settings or metadata differ is refused by name", "[trainer][resume][bad-input]") {
    data::ImageDataset d = synthetic(64, 25);
    std::string dir = fresh_dir("test-resume-settings");
    auto net = nn::make_model("lenet300", 1);
    {
        nn::TrainConfig c = small_config(dir);
        c.epochs = 1;
        nn::Trainer t(*net, c, d);
        t.fit();
    }
    auto refused = [&](const std::function<void(nn::TrainConfig&)>& change, const std::string& what) {
        nn::TrainConfig c = small_config(dir);
        c.epochs = 1;
        change(c);
        nn::Trainer t(*net, c, d);
        REQUIRE_THROWS_WITH(t.resume(), Catch::Contains("last.safetensors") && Catch::Contains(what));
    };
    refused([](nn::TrainConfig& c) { c.lr = 0.1f; }, "learning rate 0.0500000007, this run uses 0.100000001");
    refused([](nn::TrainConfig& c) { c.schedule = "constant"; }, "LR schedule cosine, this run uses constant");
    refused([](nn::TrainConfig& c) { c.epochs = 2; }, "total steps 2, this run uses 4");
    refused([](nn::TrainConfig& c) { c.seed = 2; }, "seed 1, this run uses 2");
    data::ImageDataset smaller = synthetic(48, 25);
    {
        nn::TrainConfig c = small_config(dir);
        c.epochs = 1;
        c.max_steps = 2;
        nn::Trainer t(*net, c, smaller);
        REQUIRE_THROWS_WITH(t.resume(), Catch::Contains("training-set size 64, this run uses 48"));
    }
    // Hostile metadata is one clear error, not a parse exception from the standard library.
    std::string last = nn::io::join(dir, "last.safetensors");
    nn::st::File f = nn::st::File::read(last);
    f.metadata["trainer.epoch_seen"] = "12abc";
    f.write(last);
    std::filesystem::remove(nn::io::join(dir, "checkpoint-2.safetensors"));
    nn::TrainConfig c = small_config(dir);
    c.epochs = 1;
    nn::Trainer t(*net, c, d);
    REQUIRE_THROWS_WITH(t.resume(), Catch::Contains("metadata 'trainer.epoch_seen' is not an integer: '12abc'"));
    f.metadata.erase("trainer.op_rng");
    f.write(last);
    REQUIRE_THROWS_WITH(t.resume(), Catch::Contains("not a training checkpoint (metadata 'trainer.op_rng' is missing)"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("training settings out of range are refused before training", "[trainer][bad-input]") {
    data::ImageDataset d = synthetic(32, 26);
    auto net = nn::make_model("lenet300", 1);
    auto refused = [&](const std::function<void(nn::TrainConfig&)>& change, const std::string& what) {
        nn::TrainConfig c = small_config();
        change(c);
        REQUIRE_THROWS_WITH(nn::Trainer(*net, c, d), Catch::Contains(what));
    };
    refused([](nn::TrainConfig& c) { c.warmup_fraction = 1.5f; }, "warm-up fraction must be in [0, 1], got 1.5");
    refused([](nn::TrainConfig& c) { c.warmup_fraction = -0.1f; }, "warm-up fraction must be in [0, 1], got -0.1");
    refused([](nn::TrainConfig& c) { c.momentum = 1.0f; }, "momentum must be in [0, 1), got 1");
    refused([](nn::TrainConfig& c) { c.lr = -0.1f; }, "learning rate must be finite and >= 0, got -0.1");
    refused([](nn::TrainConfig& c) { c.weight_decay = -1.0f; }, "weight decay must be finite and >= 0");
    refused([](nn::TrainConfig& c) { c.keep_checkpoints = -1; }, "keep_checkpoints must be >= 0, got -1");
    refused([](nn::TrainConfig& c) { c.max_steps = -5; }, "must not be negative");
    refused([](nn::TrainConfig& c) { c.batch_size = 0; }, "batch size must be positive, got 0");
    refused([](nn::TrainConfig& c) { c.optimizer = "rmsprop"; }, "unknown optimizer 'rmsprop'");
    refused([](nn::TrainConfig& c) { c.schedule = "exp"; }, "unknown learning-rate schedule 'exp'");
}

TEST_CASE("an unwritable output directory is reported before training starts", "[trainer][io][bad-input]") {
    data::ImageDataset d = synthetic(32, 27);
    auto net = nn::make_model("lenet300", 1);
    SECTION("read-only directory") {
        char tmpl[] = "/tmp/secateurs-readonly-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        std::string dir = tmpl;
        REQUIRE(::chmod(dir.c_str(), 0555) == 0);
        bool stepped = false;
        std::string err = error_without_root([&] {
            nn::Trainer t(*net, small_config(dir), d);
            t.after_step = [&](int64_t) { stepped = true; };
            t.fit();
        });
        REQUIRE_THAT(err, Catch::Contains(dir + ": output directory is not writable: Permission denied"));
        REQUIRE_FALSE(stepped);
        REQUIRE(nn::io::list_dir(dir).empty());
        ::chmod(dir.c_str(), 0755);
        std::filesystem::remove_all(dir);
    }
    SECTION("a file where the directory should be") {
        nn::io::write_text_atomic("test-not-a-dir", "x");
        REQUIRE_THROWS_WITH(nn::Trainer(*net, small_config("test-not-a-dir"), d),
                            Catch::Contains("test-not-a-dir: exists but is not a directory"));
        REQUIRE_THROWS_WITH(nn::Trainer(*net, small_config("test-not-a-dir/sub"), d),
                            Catch::Contains("test-not-a-dir/sub: cannot create directory: Not a directory"));
        std::remove("test-not-a-dir");
    }
}

TEST_CASE("a full output directory is reported before training starts", "[trainer][io][bad-input]") {
    // A file-size limit makes writes fail with EFBIG the way a full disk fails them with ENOSPC.
    data::ImageDataset d = synthetic(32, 28);
    auto net = nn::make_model("lenet300", 1);
    std::string dir = fresh_dir("test-full-dir");
    bool stepped = false;
    FileSizeLimit limit;
    SECTION("no room for even a small file") {
        limit.set(1024);
        REQUIRE_THROWS_WITH(nn::Trainer(*net, small_config(dir), d),
                            Catch::Contains(dir + ": cannot write to output directory (disk full?): File too large"));
    }
    SECTION("no room for the checkpoints") {
        limit.set(1 << 20);  // 1 MiB: a lenet300 checkpoint with momentum takes 2.1 MB
        nn::Trainer t(*net, small_config(dir), d);
        t.after_step = [&](int64_t) { stepped = true; };
        REQUIRE_THROWS_WITH(t.fit(), Catch::Contains(dir + ": cannot reserve the ") &&
                                         Catch::Contains("bytes this run needs in the output directory: File too large"));
    }
    REQUIRE_FALSE(stepped);
    REQUIRE(temp_files(dir).empty());
    REQUIRE_FALSE(nn::io::exists(nn::io::join(dir, "last.safetensors")));
    std::filesystem::remove_all(dir);
}

TEST_CASE("a disk filling up mid-run stops it with the last checkpoint intact", "[trainer][io][bad-input]") {
    data::ImageDataset d = synthetic(128, 29);
    auto net = nn::make_model("lenet300", 1);
    std::string dir = fresh_dir("test-full-midrun");
    nn::TrainConfig c = small_config(dir);
    c.checkpoint_every = 2;
    FileSizeLimit limit;
    {
        nn::Trainer t(*net, c, d);
        t.after_step = [&](int64_t step) {
            if (step == 5) limit.set(64 << 10);  // the disk is "full" from step 5 on: 64 KiB per file
        };
        REQUIRE_THROWS_WITH(t.fit(), Catch::Contains("checkpoint-6.safetensors: write failed after") &&
                                         Catch::Contains("File too large") &&
                                         Catch::Contains("the previous version of the file, if any, is untouched"));
    }
    limit.set(RLIM_INFINITY);
    REQUIRE(temp_files(dir).empty());
    REQUIRE(checkpoint_step(nn::io::join(dir, "last.safetensors")) == 4);
    REQUIRE_FALSE(nn::io::exists(nn::io::join(dir, "checkpoint-6.safetensors")));
    auto again = nn::make_model("lenet300", 2);
    nn::Trainer t(*again, c, d);
    REQUIRE(t.resume());
    REQUIRE(t.step() == 4);
    std::filesystem::remove_all(dir);
}

TEST_CASE("non-finite values stop the run naming the step and the layer; the last checkpoint stays good",
          "[trainer][bad-input]") {
    data::ImageDataset d = synthetic(128, 30);
    std::string dir = fresh_dir("test-non-finite");
    auto net = nn::make_model("lenet300", 1);
    nn::TrainConfig c = small_config(dir);
    c.checkpoint_every = 2;
    auto poison_at = [&](int64_t at) {
        return [&net, at](int64_t step) {
            if (step == at) net->parameter("fc2.weight").data()[7] = NAN;
        };
    };
    SECTION("weights poisoned between checkpoints: the next loss is NaN") {
        nn::Trainer t(*net, c, d);
        t.after_step = poison_at(5);
        REQUIRE_THROWS_WITH(t.fit(), Catch::Contains("non-finite loss nan at step 5 (epoch 1)") &&
                                         Catch::Contains("parameter 'fc2.weight' holds non-finite values") &&
                                         Catch::Contains("last good checkpoint: " + dir + "/last.safetensors, step 4"));
    }
    SECTION("weights poisoned at a checkpoint step: that checkpoint is not written") {
        nn::Trainer t(*net, c, d);
        t.after_step = poison_at(6);
        REQUIRE_THROWS_WITH(t.fit(), Catch::Contains("parameter 'fc2.weight' became non-finite at step 6") &&
                                         Catch::Contains("not writing a checkpoint") &&
                                         Catch::Contains("last good checkpoint: " + dir + "/last.safetensors, step 4"));
        REQUIRE_FALSE(nn::io::exists(nn::io::join(dir, "checkpoint-6.safetensors")));
    }
    std::string last = nn::io::join(dir, "last.safetensors");
    REQUIRE(checkpoint_step(last) == 4);
    auto loaded = nn::make_model("lenet300", 3);
    nn::load_model(last, *loaded);
    int64_t non_finite = 0;
    for (auto& [name, p] : loaded->named_parameters())
        for (float x : p.to_vector()) non_finite += !std::isfinite(x);
    REQUIRE(non_finite == 0);
    nn::Trainer t(*loaded, c, d);
    REQUIRE(t.resume());
    REQUIRE(t.step() == 4);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a non-finite gradient names the parameter it reached", "[trainer][bad-input]") {
    // sqrt(x - x) is 0 everywhere but its gradient is inf - inf = NaN: the loss stays finite.
    data::ImageDataset d = synthetic(32, 31);
    nn::Rng rng(1);
    nn::Sequential net;
    net.add(nn::Flatten()).add(std::make_shared<nn::Linear>(784, 10, true, rng));
    net.add(std::make_shared<nn::Lambda>("SqrtZero", [](const nn::Tensor& x) { return nn::sqrt(nn::sub(x, x)); }));
    nn::Trainer t(net, small_config(), d);
    REQUIRE_THROWS_WITH(t.fit(), Catch::Contains("non-finite gradient in '1.weight' at step 0 (epoch 0)") &&
                                     Catch::Contains("stopping"));
}

TEST_CASE("relu passes NaN through (as torch.relu does), so divergence reaches the loss", "[trainer][bad-input]") {
    std::vector<float> x(19, -1.0f);  // 19: SIMD lanes and a scalar tail
    x[0] = NAN;
    x[17] = NAN;
    x[5] = 2.0f;
    auto y = nn::relu(nn::Tensor::from_vector(x, {19})).to_vector();
    REQUIRE(std::isnan(y[0]));
    REQUIRE(std::isnan(y[17]));
    REQUIRE(y[5] == 2.0f);
    REQUIRE(y[1] == 0.0f);
    REQUIRE(y[18] == 0.0f);
}
