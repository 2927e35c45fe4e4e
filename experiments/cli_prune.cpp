// secateurs prune / summary / imp: pruning any safetensors file (no model needed), the per-layer
// sparsity table of a file, and the iterative-magnitude-pruning / lottery-ticket driver.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "data/dataset.hpp"
#include "experiments/args.hpp"
#include "experiments/cli.hpp"
#include "experiments/crash.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/safetensors.hpp"
#include "nn/threads.hpp"
#include "prune/imp.hpp"
#include "prune/mask.hpp"
#include "prune/pruner.hpp"
#include "prune/recipe.hpp"
#include "prune/report.hpp"
#include "prune/schedule.hpp"
#include "sparse/checkpoint.hpp"

namespace experiments {

namespace {

bool is_float(nn::st::DType d) {
    using nn::st::DType;
    return d == DType::F32 || d == DType::F64 || d == DType::F16 || d == DType::BF16;
}

// The floating-point tensors of a file that are not masks, and the masks already in it.
struct FileTensors {
    std::vector<std::string> names;
    std::vector<nn::NamedTensor> tensors;
    prune::MaskSet masks;
};

FileTensors file_tensors(const nn::st::File& f, const std::string& path) {
    FileTensors ft;
    for (auto& e : f.entries()) {
        if (!is_float(e.dtype) || !prune::param_of_mask(e.name).empty()) continue;
        ft.names.push_back(e.name);
        ft.tensors.emplace_back(e.name, f.tensor(e.name));
    }
    for (auto& e : f.entries()) {
        std::string p = prune::param_of_mask(e.name);
        if (p.empty()) continue;
        const nn::st::Entry* w = f.find(p);
        if (!w && f.find(p + "_orig"))
            RAISE(path, ": '", e.name, "' masks '", p, "_orig' (a PyTorch state dict of a module pruned with "
                  "torch.nn.utils.prune); call torch.nn.utils.prune.remove(module, name) before saving, or rename '",
                  p, "_orig' to '", p, "'");
        ENSURE(w, path, ": mask '", e.name, "' has no tensor '", p, "' in the file");
        ENSURE(is_float(w->dtype), path, ": '", p, "' has dtype ", nn::st::dtype_name(w->dtype), " and cannot be masked");
        try {
            ft.masks.set(p, f.tensor(e.name), nn::Shape(w->shape));
        } catch (const nn::Error& err) {
            RAISE(path, ": ", err.what());
        }
    }
    return ft;
}

// 1.0 in a floating dtype, little-endian.
std::vector<uint8_t> one_bytes(nn::st::DType d) {
    using nn::st::DType;
    switch (d) {
        case DType::F32: return {0x00, 0x00, 0x80, 0x3f};
        case DType::F64: return {0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
        case DType::F16: return {0x00, 0x3c};
        case DType::BF16: return {0x80, 0x3f};
        default: RAISE("no 1.0 in dtype ", nn::st::dtype_name(d));
    }
}

}  // namespace

int cmd_prune(const Argv& argv) {
    std::string in, out, method, amount_text, n_text, dim_text, scope = "local", params_text, ignore_text, recipe_path;
    uint64_t seed = 0;
    Args args("secateurs prune",
              "Prune the tensors of any safetensors file (no model needed; PyTorch exports too) with\n"
              "torch.nn.utils.prune's semantics. Writes each pruned tensor under its own name (pruned values set\n"
              "to zero, in its own dtype) and its mask as <name>_mask; every other tensor and the metadata are\n"
              "copied unchanged. Masks already in the file are respected: pruning again prunes only among the\n"
              "survivors. Default parameters: every floating tensor with >= 2 dims.");
    args.add("in", &in, "input .safetensors")
        .add("out", &out, "output .safetensors (may equal --in; written atomically)")
        .add("method", &method, "l1_unstructured, random_unstructured, ln_structured or random_structured")
        .add("amount", &amount_text, "fraction of the surviving units (0.3) or a count (100)")
        .add("n", &n_text, "ln_structured: norm order 1, 2 or inf")
        .add("dim", &dim_text, "structured methods: the dim whose slices are pruned (default 0)")
        .add("scope", &scope, "local (each tensor on its own) or global (one ranking over all selected tensors)")
        .add("params", &params_text, "comma-separated names or globs of the tensors to prune")
        .add("ignore", &ignore_text, "comma-separated names or globs to leave out")
        .add("recipe", &recipe_path, "a recipe file instead of --method/--amount (see README)")
        .add("seed", &seed, "random methods: seed");
    if (!args.parse(argv)) return 0;
    ENSURE(!in.empty() && !out.empty(), "--in FILE and --out FILE are required");
    nn::st::File f = nn::st::File::read(in);
    FileTensors ft = file_tensors(f, in);
    ENSURE(!ft.names.empty(), in, ": no floating-point tensors to prune");
    prune::MaskSet masks = ft.masks;
    std::vector<std::string> decided;

    if (!recipe_path.empty()) {
        ENSURE(method.empty() && amount_text.empty() && n_text.empty() && dim_text.empty() && params_text.empty() &&
                   ignore_text.empty() && scope == "local",
               "--recipe replaces --method, --amount, --n, --dim, --scope, --params and --ignore");
        prune::Recipe recipe = prune::load_recipe(recipe_path);
        for (auto& step : recipe.steps) {
            ENSURE(step.saliency == prune::Saliency::None, recipe_path, ":", step.line, ": method ", step.method,
                   " needs a model and data; secateurs prune works on weights alone (use magnitude or random)");
            prune::ScheduledStep s = prune::to_scheduled(recipe, step, ft.names);
            masks = prune::offline_masks(s, ft.tensors, masks);
            decided.insert(decided.end(), s.params.begin(), s.params.end());
        }
    } else {
        ENSURE(!method.empty() && !amount_text.empty(), "--method and --amount (or --recipe) are required");
        prune::ScheduledStep step;
        step.name = "--method " + method;
        prune::PruneSpec& spec = step.spec;
        spec.amount = prune::Amount::parse(amount_text, "--amount");
        spec.seed = seed;
        ENSURE(scope == "local" || scope == "global", "--scope '", scope, "' must be local or global");
        spec.global = scope == "global";
        const bool structured = method == "ln_structured" || method == "random_structured";
        if (method == "l1_unstructured" || method == "ln_structured") spec.scorer = prune::Scorer::Magnitude;
        else if (method == "random_unstructured" || method == "random_structured") spec.scorer = prune::Scorer::Random;
        else RAISE("--method '", method, "': expected l1_unstructured, random_unstructured, ln_structured or random_structured");
        ENSURE(structured || dim_text.empty(), "--dim applies only to ln_structured and random_structured");
        ENSURE(method == "ln_structured" || n_text.empty(), "--n applies only to ln_structured");
        if (method == "ln_structured") {
            ENSURE(!n_text.empty(), "ln_structured needs --n (1, 2 or inf)");
            if (n_text == "inf") spec.reduce.p = INFINITY;
            else if (n_text == "fro") spec.reduce.p = 2.0;
            else {
                char* end = nullptr;
                spec.reduce.p = std::strtod(n_text.c_str(), &end);
                ENSURE(*end == '\0' && spec.reduce.p > 0.0 && std::isfinite(spec.reduce.p), "--n '", n_text,
                       "' must be a positive number or inf");
            }
        }
        if (structured) {
            int dim = 0;
            if (!dim_text.empty()) {
                char* end = nullptr;
                long d = std::strtol(dim_text.c_str(), &end, 10);
                ENSURE(*end == '\0' && d > -100 && d < 100, "--dim '", dim_text, "' must be an integer");
                dim = int(d);
            }
            spec.granularity = prune::Grouping::slices(dim);
        }
        std::vector<std::string> include = prune::split_list(params_text), ignore = prune::split_list(ignore_text);
        if (include.empty()) {
            for (auto& [n, t] : ft.tensors)
                if (t.ndim() >= 2) include.push_back(n);
            ENSURE(!include.empty(), in, ": no tensor has >= 2 dims; name the tensors with --params");
        }
        step.params = prune::select_names(ft.names, include, ignore, "--params/--ignore");
        masks = prune::offline_masks(step, ft.tensors, masks);
        decided = step.params;
    }

    // Pruned tensors keep their dtype: masked elements become all-zero bytes (0.0 in every float dtype).
    nn::st::File o = f;
    std::vector<nn::NamedTensor> rows;
    for (auto& [name, t] : ft.tensors) {
        bool is_decided = false;
        for (auto& d : decided) is_decided = is_decided || d == name;
        if (!is_decided) continue;
        const nn::Tensor& m = *masks.find(name);
        nn::st::Entry w = *f.find(name);
        const size_t size = nn::st::dtype_size(w.dtype);
        const std::vector<uint8_t> one = one_bytes(w.dtype);
        nn::st::Entry me{prune::mask_name(name), w.dtype, w.shape, std::vector<uint8_t>(w.bytes.size(), 0)};
        for (int64_t i = 0; i < m.numel(); i++) {
            if (m.data()[i] == 0.0f) std::memset(w.bytes.data() + size_t(i) * size, 0, size);
            else std::memcpy(me.bytes.data() + size_t(i) * size, one.data(), size);
        }
        o.put_raw(std::move(w));
        o.put_raw(std::move(me));
        rows.emplace_back(name, o.tensor(name));
    }
    o.write(out);
    std::printf("%s", prune::format_report(prune::make_report(rows, masks)).c_str());
    std::printf("wrote %s (%zu tensors pruned, masks as <name>_mask)\n", out.c_str(), rows.size());
    return 0;
}

int cmd_summary(const Argv& argv) {
    std::string path, csv, params_text;
    Args args("secateurs summary",
              "Per-layer sparsity table of a safetensors file: shape, parameters, non-zeros, sparsity, mask zeros\n"
              "against value zeros (when <name>_mask tensors are present), and fully zero rows/filters (dim 0)\n"
              "and columns/channels (dim 1); a total row at the end.");
    args.positional("file", &path, "the .safetensors file")
        .add("csv", &csv, "also write the table as CSV here")
        .add("params", &params_text, "comma-separated names or globs of the tensors to list (default: all)");
    if (!args.parse(argv)) return 0;
    ENSURE(!path.empty(), "a FILE argument is required");
    nn::st::File f = nn::st::File::read(path);
    FileTensors ft;
    if (sparse::is_sparse_checkpoint(f)) {  // its CSR tensors expanded; their patterns act as masks
        sparse::SparseCheckpoint c = sparse::parse_sparse_checkpoint(f, path);
        std::map<std::string, nn::Tensor> all = c.state_dict();
        for (auto& [name, t] : all) {
            const nn::st::Entry* e = c.dense.find(name);
            if (e && !is_float(e->dtype)) continue;  // integer buffers (num_batches_tracked)
            ft.names.push_back(name);
            ft.tensors.emplace_back(name, t);
        }
        for (auto& [name, m] : c.masks()) ft.masks.set(name, m);
    } else {
        ft = file_tensors(f, path);
    }
    std::vector<nn::NamedTensor> rows = ft.tensors;
    if (!params_text.empty()) rows = prune::pick(ft.tensors, prune::select_names(ft.names, prune::split_list(params_text), {}, "--params"));
    prune::Report r = prune::make_report(rows, ft.masks);
    std::printf("%s", prune::format_report(r).c_str());
    // Memory of each tensor stored dense, as CSR (int32 column indices) and as CSR16 (16-bit), with
    // the mask's ones (else the non-zeros) as the stored entries.
    std::map<std::string, nn::Tensor> mask_map;
    for (auto& [name, m] : ft.masks.masks()) mask_map[name] = m;
    std::printf("\nmemory (float32 values; CSR: int32 column indices, CSR16: uint16):\n%s",
                sparse::format_memory_report(sparse::memory_report(rows, mask_map)).c_str());
    if (!csv.empty()) {
        nn::io::write_text_atomic(csv, prune::report_csv(r));
        std::printf("wrote %s\n", csv.c_str());
    }
    return 0;
}

int cmd_imp(const Argv& argv) {
    prune::ImpConfig cfg;
    cfg.train.epochs = 10;
    cfg.train.lr = 0.05f;
    cfg.train.eval_every = 200;
    cfg.train.progress = false;
    std::string scope = "local", params_text, ignore_text;
    double target_density = 0.0;
    int threads = 1;
    int64_t n_val = 5000, train_subset = 0;
    bool verbose = false, resume = false;
    std::string crash_at;
    Args args("secateurs imp",
              "Iterative magnitude pruning on Fashion-MNIST: train dense (level 0), then per level prune --rate of\n"
              "the surviving weights, reset the weights (--rewind init: theta_0, the lottery ticket; step:K: theta_k;\n"
              "none: keep and fine-tune, as Han et al.), and retrain. --control reinit|random-mask trains the\n"
              "controls on the ticket's masks (run the ticket first; results go to <out>/control-<kind>/).\n"
              "Resumable: after a kill, run the same command with --resume. Writes <out>/imp.csv and one folder per\n"
              "level.");
    args.add("model", &cfg.model, "model spec")
        .add("levels", &cfg.levels, "pruning levels after the dense one")
        .add("rate", &cfg.rate, "fraction of the surviving weights pruned per level")
        .add("target-density", &target_density, "instead of --rate: reach this density after --levels levels")
        .add("output-rate", &cfg.output_rate, "the output layer's rate per level (< 0: same as --rate)")
        .add("scope", &scope, "local (each layer by --rate) or global (one ranking)")
        .add("rewind", &cfg.rewind, "init, step:K or none")
        .add("control", &cfg.control, "reinit or random-mask (default: none, the ticket itself)")
        .add("params", &params_text, "comma-separated globs of the weights to prune (default: all with >= 2 dims)")
        .add("ignore", &ignore_text, "comma-separated globs to leave dense")
        .add("epochs", &cfg.train.epochs, "training epochs per level")
        .add("batch-size", &cfg.train.batch_size, "examples per step")
        .add("optimizer", &cfg.train.optimizer, "sgd, adam or adamw")
        .add("lr", &cfg.train.lr, "peak learning rate")
        .add("momentum", &cfg.train.momentum, "SGD momentum")
        .add("weight-decay", &cfg.train.weight_decay, "weight decay")
        .add("schedule", &cfg.train.schedule, "learning-rate schedule")
        .add("eval-every", &cfg.train.eval_every, "steps between validation passes (best-accuracy tracking)")
        .add("finetune-lr", &cfg.finetune_lr, "--rewind none: fine-tuning learning rate (0: --lr)")
        .add("finetune-epochs", &cfg.finetune_epochs, "--rewind none: fine-tuning epochs (0: --epochs)")
        .add("checkpoint-every", &cfg.train.checkpoint_every, "steps between checkpoints within a level (0: each epoch)")
        .add("val", &n_val, "training examples held out for validation")
        .add("train-subset", &train_subset, "use only the first N training examples (0: all; for quick tests)")
        .add("seed", &cfg.seed, "seed of theta_0, the data order and the validation split")
        .add("threads", &threads, "worker threads (0: all cores)")
        .add("verbose", &verbose, "print the trainer's progress lines")
        .add("out", &cfg.out_dir, "output directory (required)")
        .add("resume", &resume, "continue the run in --out (inside the level it was in), if any")
        .add("crash-at", &crash_at, "fault injection for the crash tests: SIGKILL at LEVEL/POINT (POINT: STEP, "
                                    "STEP:write, STEP:link, model or done)");
    if (!args.parse(argv)) return 0;
    ENSURE(!cfg.out_dir.empty(), "--out DIR is required");
    arm_crash(ImpCrashPoint::parse(crash_at), cfg);
    const std::string run_dir = cfg.control.empty() ? cfg.out_dir : nn::io::join(cfg.out_dir, "control-" + cfg.control);
    ENSURE(resume || !nn::io::exists(nn::io::join(run_dir, "config.txt")), run_dir,
           ": holds an IMP run already; add --resume to continue it, or choose another --out");
    ENSURE(scope == "local" || scope == "global", "--scope '", scope, "' must be local or global");
    ENSURE(n_val > 0, "--val must be positive (best validation accuracy is tracked)");
    cfg.global = scope == "global";
    cfg.params = prune::split_list(params_text);
    cfg.ignore = prune::split_list(ignore_text);
    cfg.train.seed = cfg.seed;
    cfg.train.progress = verbose;
    if (target_density > 0.0) {
        ENSURE(target_density <= 1.0 && cfg.levels > 0, "--target-density needs a value in (0, 1] and --levels > 0");
        cfg.rate = prune::iterative_rate(1.0 - target_density, cfg.levels);
    }
    apply_threads(threads);
    data::ImageDataset full = fashion_mnist_train(train_subset);
    data::ImageDataset test = data::load_fashion_mnist("test");
    auto [train, val] = data::split_validation(full, n_val, cfg.seed);
    std::printf("imp: %s, %lld levels at rate %.4f (%s%s), rewind %s%s; %d thread(s); out %s\n", cfg.model.c_str(),
                (long long)cfg.levels, cfg.rate, scope.c_str(),
                cfg.output_rate >= 0 ? (", output layer " + std::to_string(cfg.output_rate)).c_str() : "",
                cfg.rewind.c_str(), cfg.control.empty() ? "" : (", control " + cfg.control).c_str(), nn::num_threads(),
                cfg.out_dir.c_str());
    std::fflush(stdout);
    auto levels = prune::run_imp(cfg, train, val, test);
    std::printf("\nlevel  density  test acc  best val acc  at step\n");
    for (auto& l : levels)
        std::printf("%5lld  %6.2f%%  %7.2f%%  %11.2f%%  %7lld\n", (long long)l.level, 100.0 * l.density, 100.0 * l.test_acc,
                    100.0 * l.best_val_acc, (long long)l.best_step);
    return 0;
}

}  // namespace experiments
