// secateurs train / eval: train a zoo model on Fashion-MNIST with a held-out validation split, and
// evaluate any checkpoint whose metadata names its architecture.
#include <cstdio>

#include "data/dataset.hpp"
#include "experiments/args.hpp"
#include "experiments/cli.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/threads.hpp"
#include "nn/trainer.hpp"
#include "sparse/checkpoint.hpp"

namespace experiments {

void apply_threads(int threads) { nn::set_num_threads(threads); }

int cmd_train(const Argv& argv) {
    std::string model = "lenet300";
    nn::TrainConfig cfg;
    cfg.lr = 0.05f;
    cfg.weight_decay = 5e-4f;
    int threads = 1;
    int64_t n_val = 5000;
    bool resume = false;
    Args args("secateurs train", "Train a model on Fashion-MNIST. Writes metrics.csv, last.safetensors (full training\n"
                                 "state, for --resume), best.safetensors (best validation accuracy) and model.safetensors\n"
                                 "(final weights) into --out.");
    args.add("model", &model, "model spec (lenet300, or name:key=value,...)")
        .add("epochs", &cfg.epochs, "training epochs")
        .add("batch-size", &cfg.batch_size, "examples per step")
        .add("optimizer", &cfg.optimizer, "sgd, adam or adamw")
        .add("lr", &cfg.lr, "peak learning rate")
        .add("momentum", &cfg.momentum, "SGD momentum")
        .add("nesterov", &cfg.nesterov, "Nesterov momentum")
        .add("weight-decay", &cfg.weight_decay, "L2 (SGD, Adam) or decoupled (AdamW) weight decay")
        .add("schedule", &cfg.schedule, "constant, step, cosine, warmup-linear or warmup-cosine")
        .add("warmup", &cfg.warmup_fraction, "fraction of steps for linear warm-up (warmup-* schedules)")
        .add("step-epochs", &cfg.step_epochs, "step schedule: decay every N epochs")
        .add("gamma", &cfg.gamma, "step schedule: decay factor")
        .add("clip-grad-norm", &cfg.clip_grad_norm, "clip the global gradient norm (0: off)")
        .add("val", &n_val, "training examples held out for validation")
        .add("eval-every", &cfg.eval_every, "steps between validation passes (0: each epoch)")
        .add("max-steps", &cfg.max_steps, "stop after this many steps (0: all epochs)")
        .add("checkpoint-every", &cfg.checkpoint_every, "steps between checkpoints (0: each epoch)")
        .add("seed", &cfg.seed, "seed for initialisation, data order and dropout")
        .add("threads", &threads, "worker threads (0: all cores)")
        .add("out", &cfg.out_dir, "output directory (empty: write nothing)")
        .add("resume", &resume, "continue from <out>/last.safetensors if present");
    if (!args.parse(argv)) return 0;
    apply_threads(threads);

    data::ImageDataset full = data::load_fashion_mnist("train");
    data::ImageDataset test = data::load_fashion_mnist("test");
    auto [train, val] = data::split_validation(full, n_val, cfg.seed);
    nn::manual_seed(cfg.seed);
    auto net = nn::make_model(model, cfg.seed);
    std::printf("model %s: %lld parameters; train %lld, val %lld, test %lld examples; %d thread(s)\n",
                nn::ModelSpec::parse(model).str().c_str(), (long long)net->num_parameters(), (long long)train.size(),
                (long long)val.size(), (long long)test.size(), nn::num_threads());
    nn::Trainer trainer(*net, cfg, train, n_val > 0 ? &val : nullptr, &test);
    trainer.metadata["arch"] = nn::ModelSpec::parse(model).str();
    if (resume && trainer.resume()) std::printf("resumed at step %lld\n", (long long)trainer.step());
    nn::TrainResult r = trainer.fit();
    std::printf("test accuracy %.2f%% (loss %.4f) after %lld steps in %.1f s\n", 100.0 * r.final_test.accuracy,
                r.final_test.loss, (long long)r.steps, r.seconds);
    if (!cfg.out_dir.empty()) {
        std::string path = nn::io::join(cfg.out_dir, "model.safetensors");
        nn::save_model(path, *net, trainer.metadata);
        std::printf("wrote %s\n", path.c_str());
    }
    return 0;
}

int cmd_eval(const Argv& argv) {
    std::string ckpt, split = "test";
    int threads = 1;
    Args args("secateurs eval", "Evaluate a checkpoint on Fashion-MNIST. The architecture comes from the file's\n"
                                "\"arch\" metadata. Sparse checkpoints (secateurs sparsify) run on sparse kernels.");
    args.add("ckpt", &ckpt, "checkpoint (.safetensors)")
        .add("split", &split, "test or train")
        .add("threads", &threads, "worker threads (0: all cores)");
    if (!args.parse(argv)) return 0;
    ENSURE(!ckpt.empty(), "secateurs eval: --ckpt FILE is required");
    apply_threads(threads);
    nn::st::File f = nn::st::File::read(ckpt);
    auto arch = f.metadata.find("arch");
    ENSURE(arch != f.metadata.end(), ckpt, ": no \"arch\" metadata, so the model cannot be rebuilt");
    auto net = nn::make_model(arch->second, 0);
    if (sparse::is_sparse_checkpoint(f)) {  // CSR tensors: expanded, and the layers compiled to sparse kernels
        for (auto& d : sparse::load_sparse_model(sparse::parse_sparse_checkpoint(f, ckpt), *net, ckpt))
            std::printf("%s: %s (%s)\n", d.name.c_str(), d.sparse ? "sparse" : "dense", d.reason.c_str());
    } else {
        nn::load_module(f, *net, ckpt);
    }
    data::ImageDataset ds = data::load_fashion_mnist(split);
    nn::EvalResult r = nn::evaluate(*net, ds);
    std::printf("%s on fashion-mnist/%s: accuracy %.2f%%  loss %.4f  (%lld examples)\n", arch->second.c_str(),
                split.c_str(), 100.0 * r.accuracy, r.loss, (long long)r.n);
    return 0;
}

}  // namespace experiments
