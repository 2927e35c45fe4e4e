// secateurs train / eval: train a zoo model on Fashion-MNIST with a held-out validation split, and
// evaluate any checkpoint whose metadata names its architecture.
#include <cstdio>
#include <memory>

#include "data/dataset.hpp"
#include "experiments/args.hpp"
#include "experiments/cli.hpp"
#include "experiments/crash.hpp"
#include "experiments/presets.hpp"
#include "nn/check.hpp"
#include "nn/autograd.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/threads.hpp"
#include "nn/trainer.hpp"
#include "prune/recipe.hpp"
#include "prune/report.hpp"
#include "prune/runner.hpp"
#include "sparse/checkpoint.hpp"

namespace experiments {

void apply_threads(int threads) { nn::set_num_threads(threads); }

data::ImageDataset fashion_mnist_train(int64_t subset) {
    ENSURE(subset >= 0, "--train-subset must be >= 0, got ", subset);
    data::ImageDataset full = data::load_fashion_mnist("train");
    if (subset == 0) return full;
    ENSURE(subset <= full.size(), "--train-subset ", subset, " exceeds the ", full.size(), " training examples");
    return full.head(subset);
}

int cmd_train(const Argv& argv) {
    std::string model = "lenet300";
    nn::TrainConfig cfg;
    cfg.lr = 0.05f;
    cfg.weight_decay = 5e-4f;
    int threads = 1;
    int64_t n_val = 5000, train_subset = 0;
    bool resume = false;
    std::string recipe;
    std::string crash_at;
    std::string augment = "auto";
    int crop_padding = 2;
    Args args("secateurs train", "Train a model on Fashion-MNIST. Writes metrics.csv, last.safetensors (full training\n"
                                 "state, for --resume), best.safetensors (best validation accuracy) and model.safetensors\n"
                                 "(final weights) into --out. For the zoo's models (lenet300, lenet5, conv2/4/6, vgg,\n"
                                 "resnet20) --epochs, --optimizer, --lr and --weight-decay default to the model's preset\n"
                                 "(README: CNNs); the defaults shown below apply to other models, and given flags win.");
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
        .add("train-subset", &train_subset, "use only the first N training examples (0: all; for quick tests)")
        .add("eval-every", &cfg.eval_every, "steps between validation passes (0: each epoch)")
        .add("max-steps", &cfg.max_steps, "stop after this many steps (0: all epochs)")
        .add("checkpoint-every", &cfg.checkpoint_every, "steps between checkpoints (0: each epoch)")
        .add("keep-checkpoints", &cfg.keep_checkpoints, "step-numbered checkpoints kept besides last (0: last only)")
        .add("augment", &augment, "training augmentation (random crop with padding + horizontal flip): auto (on "
                                  "for vgg and resnet20, off for the others), on or off")
        .add("crop-padding", &crop_padding, "zero padding of the random crop, in pixels (with --augment)")
        .add("flush-denormals", &cfg.flush_denormals, "flush denormal floats to zero while training (FTZ/DAZ)")
        .add("seed", &cfg.seed, "seed for initialisation, data order and dropout")
        .add("threads", &threads, "worker threads (0: all cores)")
        .add("out", &cfg.out_dir, "output directory (empty: write nothing)")
        .add("resume", &resume, "continue from the newest checkpoint in --out, if any")
        .add("recipe", &recipe, "prune during training as this recipe says (see README: recipes)")
        .add("crash-at", &crash_at, "fault injection for the crash tests: SIGKILL at STEP, STEP:write or STEP:link");
    if (!args.parse(argv)) return 0;
    const TrainPreset* preset = apply_preset(cfg, model, [&](const std::string& o) { return args.given(o); });
    CrashPoint crash = CrashPoint::parse(crash_at);
    apply_threads(threads);
    data::Augment aug = default_augment(model, augment, crop_padding);

    data::ImageDataset full = fashion_mnist_train(train_subset);

    data::ImageDataset test = data::load_fashion_mnist("test");
    auto [train, val] = data::split_validation(full, n_val, cfg.seed);
    train.augment = aug;
    nn::manual_seed(cfg.seed);
    auto net = nn::make_model(model, cfg.seed);
    std::printf("%s: %lld epochs, %s lr %g, weight decay %g, batch %lld, %s schedule\n",
                preset ? ("preset " + std::string(preset->model)).c_str() : "no preset", (long long)cfg.epochs,
                cfg.optimizer.c_str(), double(cfg.lr), double(cfg.weight_decay), (long long)cfg.batch_size,
                cfg.schedule.c_str());
    std::printf("model %s: %lld parameters; train %lld, val %lld, test %lld examples; augmentation %s; %d thread(s)\n",
                nn::ModelSpec::parse(model).str().c_str(), (long long)net->num_parameters(), (long long)train.size(),
                (long long)val.size(), (long long)test.size(),
                aug.enabled() ? ("crop (padding " + std::to_string(aug.crop_padding) + ") + flip").c_str() : "off",
                nn::num_threads());
    nn::Trainer trainer(*net, cfg, train, n_val > 0 ? &val : nullptr, &test);
    trainer.metadata["arch"] = nn::ModelSpec::parse(model).str();
    std::unique_ptr<prune::RecipeRunner> pruning;
    if (!recipe.empty()) {
        pruning = std::make_unique<prune::RecipeRunner>(prune::load_recipe(recipe), *net, train, cfg.seed);
        pruning->attach(trainer);
    }
    arm_crash(crash, trainer);
    if (resume && trainer.resume())
        std::printf("resumed at step %lld from %s\n", (long long)trainer.step(), trainer.resumed_from().c_str());
    nn::TrainResult r = trainer.fit();
    if (r.final_test.n == 0) r.final_test = nn::evaluate(*net, test);  // resumed at the final step
    if (pruning) {
        prune::Report rep = prune::make_report(net->named_parameters(), pruning->masks(), pruning->final_targets());
        std::printf("%s", prune::format_report(rep).c_str());
        if (!cfg.out_dir.empty()) nn::io::write_text_atomic(nn::io::join(cfg.out_dir, "sparsity.csv"), prune::report_csv(rep));
    }
    std::printf("test accuracy %.2f%% (loss %.4f) after %lld steps in %.1f s\n", 100.0 * r.final_test.accuracy,
                r.final_test.loss, (long long)r.steps, r.seconds);
    if (!cfg.out_dir.empty()) {
        std::string path = nn::io::join(cfg.out_dir, "model.safetensors");
        nn::st::File f;
        f.metadata = trainer.metadata;
        nn::put_module(f, *net);
        if (pruning) pruning->masks().put(f);  // as <name>_mask
        f.write(path);
        std::printf("wrote %s\n", path.c_str());
    }
    return 0;
}

int cmd_eval(const Argv& argv) {
    std::string ckpt, split = "test", dump;
    int threads = 1;
    int64_t dump_n = 64;
    Args args("secateurs eval", "Evaluate a checkpoint on Fashion-MNIST, or a BERT checkpoint on the task it was trained for\n"
                                "(masked-token accuracy on its corpus, or accuracy on its classification task: read from the\n"
                                "file's metadata, same hash split as pretrain / finetune). The architecture comes from the\n"
                                "file's \"arch\" metadata. Sparse checkpoints (secateurs sparsify) run on sparse kernels.");
    args.add("ckpt", &ckpt, "checkpoint (.safetensors)")
        .add("split", &split, "test or train (BERT: also val)")
        .add("threads", &threads, "worker threads (0: all cores)")
        .add("dump-logits", &dump, "also write the first --dump-n images of the split and their logits (eval mode)\n"
                                   "to this safetensors file as \"input\" and \"logits\", e.g. to compare with PyTorch")
        .add("dump-n", &dump_n, "images in --dump-logits");
    if (!args.parse(argv)) return 0;
    ENSURE(!ckpt.empty(), "--ckpt FILE is required");
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
    if (nn::ModelSpec::parse(arch->second).name.rfind("bert", 0) == 0) {
        ENSURE(dump.empty(), "--dump-logits takes image models; ", ckpt, " holds ", arch->second);
        return eval_bert(f, ckpt, *net, split);
    }
    data::ImageDataset ds = data::load_fashion_mnist(split);
    nn::EvalResult r = nn::evaluate(*net, ds);
    std::printf("%s on fashion-mnist/%s: accuracy %.2f%%  loss %.4f  (%lld examples)\n", arch->second.c_str(),
                split.c_str(), 100.0 * r.accuracy, r.loss, (long long)r.n);
    if (!dump.empty()) {
        ENSURE(dump_n > 0 && dump_n <= ds.size(), "--dump-n must be in 1..", ds.size(), ", got ", dump_n);
        data::DataLoader loader(ds, dump_n, false, 0);
        data::Batch batch = loader.batch(0);
        net->eval();
        nn::NoGradGuard no_grad;
        nn::st::File out;
        out.metadata["arch"] = arch->second;
        out.metadata["source"] = ckpt;
        out.put("input", batch.x);
        out.put("logits", net->forward(batch.x));
        out.write(dump);
        std::printf("wrote %s (%lld images and their logits)\n", dump.c_str(), (long long)dump_n);
    }
    return 0;
}

}  // namespace experiments
