#include "experiments/harness.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "experiments/bert_common.hpp"
#include "experiments/presets.hpp"
#include "experiments/report.hpp"
#include "nn/clock.hpp"
#include "nn/bert_tasks.hpp"
#include "nn/blas.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/json.hpp"
#include "nn/kernels.hpp"
#include "nn/models.hpp"
#include "nn/rng.hpp"
#include "nn/threads.hpp"

#include "git_version.hpp"

#ifndef SECATEURS_BUILD_INFO
#define SECATEURS_BUILD_INFO "unknown"
#endif

namespace experiments {

namespace {

std::string hms(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    int64_t t = int64_t(s + 0.5);
    char b[32];
    if (t >= 3600) std::snprintf(b, sizeof b, "%lld:%02d:%02d", (long long)(t / 3600), int(t / 60 % 60), int(t % 60));
    else std::snprintf(b, sizeof b, "%d:%02d", int(t / 60), int(t % 60));
    return b;
}

std::string hex64(uint64_t v) {
    char b[20];
    std::snprintf(b, sizeof b, "%016llx", (unsigned long long)v);
    return b;
}

// Exclusive advisory lock on a file, released on destruction (or when the process dies).
class FileLock {
public:
    explicit FileLock(const std::string& path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
        ENSURE(fd_ >= 0, path, ": cannot open lock file");
        ::flock(fd_, LOCK_EX);
    }
    ~FileLock() {
        ::flock(fd_, LOCK_UN);
        ::close(fd_);
    }

private:
    int fd_;
};

struct Prepared {
    std::unique_ptr<Experiment> exp;
    Context ctx;
    std::string config_json;
};

Prepared prepare(const std::string& name, const RunOptions& opt, const std::vector<std::string>& flags) {
    Prepared p;
    p.exp = make_experiment(name);
    Args args("secateurs experiment " + name, p.exp->title());
    p.exp->configure(args, opt.profile);
    ENSURE(args.parse(flags), "--help given");
    std::vector<std::string> changed = args.changed();
    std::string config = "default";
    if (!changed.empty()) {
        config.clear();
        for (auto& c : changed) config += (config.empty() ? "" : ",") + c;
        for (char& ch : config)
            if (ch == '/' || ch == ' ') ch = '_';
    }
    p.ctx.profile = opt.profile;
    p.ctx.threads = opt.threads;
    p.ctx.root = nn::io::join(opt.out, profile_name(opt.profile));
    p.ctx.run_dir = nn::io::join(nn::io::join(p.ctx.root, name), config);
    p.config_json = "{";
    bool first = true;
    for (auto& c : args.values()) {
        p.config_json += (first ? "" : ", ") + nn::json::quote(c.first) + ": " + nn::json::quote(c.second);
        first = false;
    }
    p.config_json += "}";
    return p;
}

std::string point_path(const Context& ctx, const Point& p) {
    return nn::io::join(nn::io::join(ctx.run_dir, "points"), p.id + ".csv");
}

}  // namespace

// ---- small types ----------------------------------------------------------------------------------

Profile parse_profile(const std::string& name) {
    if (name == "smoke") return Profile::Smoke;
    if (name == "quick") return Profile::Quick;
    if (name == "full") return Profile::Full;
    RAISE("unknown profile '", name, "' (expected smoke, quick or full)");
}

std::string profile_name(Profile p) {
    switch (p) {
        case Profile::Smoke: return "smoke";
        case Profile::Quick: return "quick";
        case Profile::Full: return "full";
    }
    return "?";
}

const std::string& Point::at(const std::string& key) const {
    auto it = params.find(key);
    ENSURE(it != params.end(), "point ", id, " has no parameter '", key, "'");
    return it->second;
}

double Point::num(const std::string& key) const { return std::stod(at(key)); }

std::string verdict_from(int passed, int total) {
    if (total > 0 && passed == total) return "holds";
    if (passed > 0) return "holds partly";
    return "does not hold here";
}

void parse_shard(const std::string& text, int& index, int& count) {
    int k = 0, n = 0;
    char extra = 0;
    ENSURE(std::sscanf(text.c_str(), "%d/%d%c", &k, &n, &extra) == 2 && n >= 1 && k >= 1 && k <= n,
           "--shard expects K/N with 1 <= K <= N, got '", text, "'");
    index = k - 1;
    count = n;
}

std::unique_ptr<Experiment> make_experiment(const std::string& name) {
    std::string known;
    for (auto& [n, factory] : experiment_registry()) {
        if (n == name) return factory();
        known += (known.empty() ? "" : ", ") + n;
    }
    RAISE("unknown experiment '", name, "' (known: ", known, ")");
}

// ---- progress ---------------------------------------------------------------------------------------

void Progress::line(const std::string& detail) const {
    double elapsed = nn::wall_seconds() - start;
    double rate = done_cost > 0 ? done_cost / elapsed : 0;
    double eta = rate > 0 ? (total_cost - done_cost) / rate : NAN;
    std::printf("[%3.0f%% | %s elapsed | ETA %s] %s\n", total_cost > 0 ? 100.0 * done_cost / total_cost : 0.0,
                hms(elapsed).c_str(), hms(eta).c_str(), detail.c_str());
    std::fflush(stdout);
}

void Context::note(const std::string& what) const {
    if (progress) progress->line(what);
    else {
        std::printf("%s\n", what.c_str());
        std::fflush(stdout);
    }
}

// ---- data and baselines -----------------------------------------------------------------------------

const Context::ImageData& Context::fashion(int64_t n_val, uint64_t split_seed) {
    static std::map<std::pair<int64_t, uint64_t>, std::unique_ptr<ImageData>> cache;
    auto& slot = cache[{n_val, split_seed}];
    if (!slot) {
        slot = std::make_unique<ImageData>();
        data::ImageDataset full = data::load_fashion_mnist("train");
        auto [tr, va] = data::split_validation(full, n_val, split_seed);
        slot->train = std::move(tr);
        slot->val = std::move(va);
        slot->test = data::load_fashion_mnist("test");
    }
    return *slot;
}

Context::Baseline Context::baseline(const std::string& model_spec, const nn::TrainConfig& cfg_in, int64_t n_val) {
    nn::TrainConfig cfg = cfg_in;
    std::string key = nn::str_cat(model_spec, "|", cfg.epochs, "|", cfg.batch_size, "|", cfg.optimizer, "|", cfg.lr, "|",
                                  cfg.momentum, "|", cfg.nesterov, "|", cfg.weight_decay, "|", cfg.schedule, "|",
                                  cfg.warmup_fraction, "|", cfg.step_epochs, "|", cfg.gamma, "|", cfg.clip_grad_norm, "|",
                                  cfg.seed, "|", cfg.max_steps, "|", n_val, "|", threads);
    const data::Augment aug = default_augment(model_spec, "auto");
    if (aug.enabled()) key += nn::str_cat("|augment ", aug.crop_padding, aug.hflip ? " flip" : "");
    std::string spec_dir = model_spec;
    for (char& c : spec_dir)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    std::string dir = nn::io::join(nn::io::join(nn::io::dirname(root), "cache"),
                                   spec_dir + "-" + hex64(nn::hash64(key.data(), key.size())));
    nn::io::make_dirs(dir);
    FileLock lock(nn::io::join(dir, "lock"));
    std::string model_path = nn::io::join(dir, "model.safetensors"), info_path = nn::io::join(dir, "info.json");
    Baseline b;
    b.path = model_path;
    if (nn::io::exists(model_path) && nn::io::exists(info_path)) {
        nn::json::Value info = nn::json::parse(nn::io::read_text(info_path), info_path);
        b.test_acc = info.find("test_acc")->as_double();
        b.val_acc = info.find("val_acc")->as_double();
        b.seconds = info.find("seconds")->as_double();
        return b;
    }
    note("training baseline " + model_spec + " (" + std::to_string(cfg.epochs) + " epochs) into " + dir);
    const ImageData& d = fashion(n_val);
    auto model = nn::make_model(model_spec, cfg.seed);
    cfg.out_dir = dir;
    nn::manual_seed(cfg.seed);
    data::ImageDataset train = d.train;  // shares the image storage
    train.augment = aug;
    nn::Trainer trainer(*model, cfg, train, n_val > 0 ? &d.val : nullptr, &d.test);
    trainer.metadata["arch"] = nn::ModelSpec::parse(model_spec).str();
    if (trainer.resume()) note("resumed baseline at step " + std::to_string(trainer.step()));
    nn::TrainResult r = trainer.fit();
    nn::save_model(model_path, *model, trainer.metadata);
    b.test_acc = r.final_test.accuracy;
    b.val_acc = r.final_val.accuracy;
    b.seconds = r.seconds;
    nn::io::write_text_atomic(info_path, nn::str_cat("{\"model\": ", nn::json::quote(model_spec), ", \"test_acc\": ",
                                                     fmt(b.test_acc, 17), ", \"val_acc\": ", fmt(n_val > 0 ? b.val_acc : 0, 17),
                                                     ", \"seconds\": ", fmt(b.seconds, 6), "}\n"));
    return b;
}

std::string Context::BertRecipe::describe() const {
    std::string s = nn::str_cat(layers, " layers, hidden ", hidden, ", ", heads, " heads, FFN ", ffn, ", sequence ", seq,
                                ", vocabulary cap ", vocab, "; MLM pretraining ");
    s += max_steps > 0 ? nn::str_cat(max_steps, " steps") : nn::str_cat(epochs, " epochs");
    s += nn::str_cat(" (AdamW, lr ", lr, ", batch ", batch, "), genre fine-tuning ");
    s += genre_max_steps > 0 ? nn::str_cat(genre_max_steps, " steps") : nn::str_cat(genre_epochs, " epoch(s)");
    s += nn::str_cat(" (lr ", genre_lr, "), seed ", seed);
    return s;
}

Context::BertRecipe Context::bert_recipe() const {
    BertRecipe r;  // the default model of `secateurs pretrain` / `finetune`
    if (profile == Profile::Full) {
        // The default model on a shorter schedule than the CLI's 8 + 4 epochs, so the whole full
        // profile fits its two hours; the decay still reaches zero at the end of each schedule.
        r.epochs = 4;
        r.genre_epochs = 2;
    } else if (profile == Profile::Quick) {
        r.hidden = 128;
        r.ffn = 512;
        r.epochs = 3;
        r.lr = 1e-3f;  // the narrower model's short schedule takes the larger rate
        r.genre_epochs = 1;
        r.genre_lr = 2e-4f;
    } else if (profile == Profile::Smoke) {
        r.layers = 2;
        r.hidden = 32;
        r.heads = 2;
        r.ffn = 64;
        r.seq = 32;
        r.vocab = 2000;
        r.epochs = r.genre_epochs = 1;
        r.max_steps = 20;
        r.genre_max_steps = 10;
        r.genre_lr = 1e-3f;
    }
    return r;
}

Context::Bert Context::bert(const BertRecipe& r) {
    std::string key = nn::str_cat("bert|", r.layers, "|", r.hidden, "|", r.heads, "|", r.ffn, "|", r.seq, "|", r.vocab, "|",
                                  r.epochs, "|", r.max_steps, "|", r.batch, "|", r.lr, "|", r.genre_epochs, "|",
                                  r.genre_max_steps, "|", r.genre_lr, "|", r.seed, "|", threads);
    std::string dir = nn::io::join(nn::io::join(nn::io::dirname(root), "cache"),
                                   nn::str_cat("bert-L", r.layers, "-H", r.hidden, "-", hex64(nn::hash64(key.data(), key.size()))));
    nn::io::make_dirs(dir);
    FileLock lock(nn::io::join(dir, "lock"));
    Bert b;
    b.mlm_path = nn::io::join(dir, "mlm/model.safetensors");
    b.genre_path = nn::io::join(dir, "genre/model.safetensors");
    std::string info_path = nn::io::join(dir, "info.json");
    if (nn::io::exists(b.mlm_path) && nn::io::exists(b.genre_path) && nn::io::exists(info_path)) {
        nn::json::Value info = nn::json::parse(nn::io::read_text(info_path), info_path);
        b.mlm_acc = info.find("mlm_acc")->as_double();
        b.genre_acc = info.find("genre_acc")->as_double();
        b.pretrain_seconds = info.find("pretrain_seconds")->as_double();
        b.finetune_seconds = info.find("finetune_seconds")->as_double();
        return b;
    }
    data::Corpus corpus = data::load_corpus("kjv");
    TextSplits sp = split_corpus(corpus, false);
    data::TokenizerOptions tok;
    data::Vocab vocab = data::Vocab::build(words_of(sp.train, tok), r.vocab, 2);
    auto text_cfg = [&](const std::string& out, int64_t epochs, int64_t max_steps, float lr, float warmup) {
        nn::TrainConfig c;
        c.optimizer = "adamw";
        c.schedule = "warmup-linear";
        c.warmup_fraction = warmup;
        c.weight_decay = 0.01f;
        c.clip_grad_norm = 1.0f;
        c.batch_size = r.batch;
        c.bucket_batches = 50;
        c.item_name = "tok";
        c.eval_test = false;
        c.epochs = epochs;
        c.max_steps = max_steps;
        c.lr = lr;
        c.seed = r.seed;
        c.progress = false;
        c.out_dir = nn::io::join(dir, out);
        nn::io::make_dirs(c.out_dir);
        return c;
    };
    std::string flags = nn::str_cat("hidden=", r.hidden, ",layers=", r.layers, ",heads=", r.heads, ",ffn=", r.ffn,
                                    ",seq=", r.seq);
    // Pretraining (skipped when its model exists: a kill during fine-tuning keeps it).
    std::string mlm_arch = nn::BertConfig::from_spec(nn::ModelSpec::parse(nn::str_cat("bert-mlm:vocab=", vocab.size(), ",", flags)))
                               .to_spec("bert-mlm").str();
    auto mlm_net = nn::make_model(mlm_arch, r.seed);
    auto& mlm = dynamic_cast<nn::BertForMaskedLM&>(*mlm_net);
    data::MlmDataset mlm_test = mlm_dataset(sp.test, vocab, tok, r.seq);
    if (!nn::io::exists(b.mlm_path)) {
        note("pretraining the mini-BERT (" + r.describe() + ") into " + dir);
        data::MlmDataset train = mlm_dataset(sp.train, vocab, tok, r.seq), val = mlm_dataset(sp.val, vocab, tok, r.seq);
        nn::manual_seed(r.seed);
        nn::Trainer trainer(*mlm_net, text_cfg("mlm", r.epochs, r.max_steps, r.lr, 0.06f), train, &val, nullptr);
        trainer.loss_fn = nn::mlm_loss(mlm);
        trainer.metadata["arch"] = mlm_arch;
        trainer.metadata["task"] = "mlm";
        trainer.metadata["corpus"] = "kjv";
        put_tokenizer(trainer.metadata, vocab, tok);
        if (trainer.resume()) note("resumed pretraining at step " + std::to_string(trainer.step()));
        nn::TrainResult tr = trainer.fit();
        nn::save_model(b.mlm_path, *mlm_net, trainer.metadata);
        nn::io::write_text_atomic(nn::io::join(dir, "mlm/seconds"), fmt(tr.seconds, 6) + "\n");
    }
    nn::load_model(b.mlm_path, *mlm_net);
    b.mlm_acc = mlm_eval(mlm, mlm_test).accuracy;
    b.pretrain_seconds = std::stod(nn::io::read_text(nn::io::join(dir, "mlm/seconds")));

    note("fine-tuning the mini-BERT for genre into " + dir);
    const int n_classes = int(corpus.classes.size());
    nn::BertConfig cc = mlm.bert->config;
    cc.n_classes = n_classes;
    std::string cls_arch = cc.to_spec("bert-cls").str();
    auto cls_net = nn::make_model(cls_arch, r.seed);
    auto& cls = dynamic_cast<nn::BertForSequenceClassification&>(*cls_net);
    {
        nn::st::File pre = nn::st::File::read(b.mlm_path);
        nn::load_module(pre, *cls.bert->embeddings, b.mlm_path, "bert.embeddings.");
        nn::load_module(pre, *cls.bert->encoder, b.mlm_path, "bert.encoder.");
    }
    data::TextClassDataset train = class_dataset(sp.train, vocab, tok, r.seq), val = class_dataset(sp.val, vocab, tok, r.seq),
                           test = class_dataset(sp.test, vocab, tok, r.seq);
    nn::manual_seed(r.seed);
    nn::Trainer trainer(*cls_net, text_cfg("genre", r.genre_epochs, r.genre_max_steps, r.genre_lr, 0.1f), train, &val, nullptr);
    trainer.loss_fn = nn::sequence_classification_loss(cls);
    trainer.metadata["arch"] = cls_arch;
    trainer.metadata["task"] = "kjv-genre";
    std::string classes;
    for (auto& c : corpus.classes) classes += (classes.empty() ? "" : "\n") + c;
    trainer.metadata[kClassesKey] = classes;
    put_tokenizer(trainer.metadata, vocab, tok);
    if (trainer.resume()) note("resumed fine-tuning at step " + std::to_string(trainer.step()));
    nn::TrainResult fr = trainer.fit();
    nn::save_model(b.genre_path, *cls_net, trainer.metadata);
    b.genre_acc = class_eval(cls, test).accuracy;
    b.finetune_seconds = fr.seconds;
    nn::io::write_text_atomic(info_path, nn::str_cat("{\"recipe\": ", nn::json::quote(r.describe()), ", \"mlm_acc\": ",
                                                     fmt(b.mlm_acc, 17), ", \"genre_acc\": ", fmt(b.genre_acc, 17),
                                                     ", \"pretrain_seconds\": ", fmt(b.pretrain_seconds, 6),
                                                     ", \"finetune_seconds\": ", fmt(b.finetune_seconds, 6), "}\n"));
    return b;
}

nn::TrainConfig Context::recipe(const std::string& model_spec, uint64_t seed) const {
    // The presets of experiments/presets.cpp (the recipes whose accuracy the README quotes) with their
    // suite epochs in the full profile; the quick profile halves the epochs of the convolutional nets
    // (the cost of the whole suite is dominated by them) and keeps lenet300's; smoke trains 30 steps.
    std::string name = nn::ModelSpec::parse(model_spec).name;
    const TrainPreset* p = find_preset(name);
    nn::TrainConfig c;
    c.seed = seed;
    c.batch_size = 128;
    c.optimizer = p ? p->optimizer : "sgd";
    c.lr = p ? p->lr : 0.05f;
    c.momentum = 0.9f;
    c.weight_decay = p ? p->weight_decay : 5e-4f;
    c.schedule = "cosine";
    int64_t epochs = p ? p->suite_epochs : 10;
    if (name == "lenet300") epochs = profile == Profile::Full ? 20 : 10;
    else if (profile == Profile::Quick) epochs = std::max<int64_t>(2, epochs / 2);
    c.epochs = epochs;
    if (profile == Profile::Smoke) {
        c.epochs = 1;
        c.max_steps = 30;
    }
    return c;
}

data::ImageDataset Context::train_set(const std::string& model_spec) {
    data::ImageDataset t = fashion().train;  // shares the image storage
    t.augment = default_augment(model_spec, "auto");
    return t;
}

// ---- environment ------------------------------------------------------------------------------------

std::string environment_json(int threads) {
    static std::string data_hashes;
    if (data_hashes.empty()) {
        data_hashes = "{";
        std::string dir = data::data_dir();
        bool first = true;
        std::error_code ec;
        std::vector<std::string> files;
        for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
            if (it->is_regular_file()) files.push_back(it->path().string());
        std::sort(files.begin(), files.end());
        for (auto& f : files) {
            auto bytes = nn::io::read_file(f);
            data_hashes += (first ? "" : ", ") + nn::json::quote(f.substr(dir.size() + 1)) + ": \"" +
                           hex64(nn::hash64(bytes.data(), bytes.size())) + "\"";
            first = false;
        }
        data_hashes += "}";
    }
    // The commit the binary was built from: the source tree may have moved on since.
    std::string git = SECATEURS_GIT_VERSION;
    const std::string suffix = "-dirty";
    const bool dirty = git.size() > suffix.size() && git.compare(git.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (dirty) git.resize(git.size() - suffix.size());
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    return nn::str_cat("{\"git\": ", nn::json::quote(git.empty() ? "unknown" : git), ", \"dirty\": ",
                       dirty ? "true" : "false", ", \"compiler\": ", nn::json::quote(__VERSION__),
                       ", \"build\": ", nn::json::quote(SECATEURS_BUILD_INFO), ", \"simd\": ",
                       nn::json::quote(nn::kernels::simd_arch_name()), ", \"openblas_core\": ",
                       nn::json::quote(nn::blas_core_name()), ", \"openblas_threads\": 1, \"threads\": ", threads,
                       ", \"host\": ", nn::json::quote(host), ", \"data_dir\": ", nn::json::quote(data::data_dir()),
                       ", \"data\": ", data_hashes, "}");
}

// ---- running ----------------------------------------------------------------------------------------

std::string run_experiment(const std::string& name, const RunOptions& opt, const std::vector<std::string>& flags,
                           Progress* suite) {
    nn::set_num_threads(opt.threads);
    Prepared p = prepare(name, opt, flags);
    Context& ctx = p.ctx;
    Progress local;
    local.start = nn::wall_seconds();
    ctx.progress = suite ? suite : &local;
    nn::io::make_dirs(nn::io::join(ctx.run_dir, "points"));
    std::time_t t = std::time(nullptr);
    char when[64];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    nn::io::write_text_atomic(
        nn::io::join(ctx.run_dir, "run.json"),
        nn::str_cat("{\"experiment\": ", nn::json::quote(name), ", \"profile\": ", nn::json::quote(profile_name(opt.profile)),
                    ", \"started\": ", nn::json::quote(when), ", \"shard\": \"", opt.shard_index + 1, "/", opt.shard_count,
                    "\", \"config\": ", p.config_json, ", \"environment\": ", environment_json(opt.threads), "}\n"));

    std::vector<Point> points = p.exp->points(ctx);
    if (!suite) {
        for (size_t i = 0; i < points.size(); i++)
            if (int(i % size_t(opt.shard_count)) == opt.shard_index) local.total_cost += points[i].cost;
    }
    size_t n_mine = 0, k = 0;
    for (size_t i = 0; i < points.size(); i++) n_mine += int(i % size_t(opt.shard_count)) == opt.shard_index;
    for (size_t i = 0; i < points.size(); i++) {
        if (int(i % size_t(opt.shard_count)) != opt.shard_index) continue;
        const Point& pt = points[i];
        k++;
        std::string path = point_path(ctx, pt);
        if (nn::io::exists(path)) {
            ctx.progress->done_cost += pt.cost;
            continue;
        }
        ctx.progress->line(nn::str_cat(name, ": point ", k, "/", n_mine, " (", pt.id, ")"));
        Table rows = p.exp->run_point(ctx, pt);
        rows.write(path);
        ctx.progress->done_cost += pt.cost;
    }
    if (opt.shard_count == 1 && opt.analyse) merge_experiment(name, opt, flags);
    return ctx.run_dir;
}

void merge_experiment(const std::string& name, const RunOptions& opt, const std::vector<std::string>& flags) {
    Prepared p = prepare(name, opt, flags);
    Context& ctx = p.ctx;
    std::vector<Point> points = p.exp->points(ctx);
    Table all;
    std::string missing;
    for (auto& pt : points) {
        std::string path = point_path(ctx, pt);
        if (!nn::io::exists(path)) {
            missing += (missing.empty() ? "" : ", ") + pt.id;
            continue;
        }
        all.append(Table::read(path), path);
    }
    ENSURE(missing.empty(), name, ": cannot merge ", ctx.run_dir, ": points not finished yet: ", missing,
           " (run the remaining shards first)");
    all.write(nn::io::join(ctx.run_dir, "results.csv"));
    Section s = p.exp->analyse(ctx, all);
    s.experiment = name;
    if (s.title.empty()) s.title = p.exp->title();
    write_section(ctx.run_dir, s);
}

}  // namespace experiments
