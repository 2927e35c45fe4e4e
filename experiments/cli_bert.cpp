// secateurs pretrain / finetune / baseline / bert-stats: the mini-BERT on text corpora. pretrain
// trains a masked language model and stores the vocabulary in the checkpoint's metadata; finetune
// puts a [CLS] classifier on a pretrained encoder (or a fresh one, as a control); baseline measures
// multinomial naive Bayes on the same split; bert-stats writes the weight statistics behind the
// seed's BERT claims (per-matrix near-zero fractions, embedding rows vs word length and frequency,
// head norms).
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "data/text.hpp"
#include "experiments/args.hpp"
#include "experiments/bert_common.hpp"
#include "experiments/cli.hpp"
#include "experiments/naive_bayes.hpp"
#include "nn/bert_tasks.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/threads.hpp"
#include "nn/trainer.hpp"
#include "nn/weight_stats.hpp"

namespace experiments {

namespace {

void print_corpus(const data::Corpus& c) {
    std::printf("corpus %s: %zu examples", c.name.c_str(), c.examples.size());
    if (!c.classes.empty()) std::printf(", %zu classes", c.classes.size());
    std::printf("; %" PRId64 " invalid UTF-8 sequences replaced by U+FFFD, %" PRId64 " empty lines skipped\n",
                c.n_invalid_utf8, c.n_empty_skipped);
}

// The corpus of a classification task: kjv-genre, fortunes-category, or a label<TAB>text file.
data::Corpus task_corpus(const std::string& task) {
    data::Corpus c;
    if (task == "kjv-genre") c = data::load_corpus("kjv");
    else if (task == "fortunes-category") c = data::load_corpus("fortunes");
    else c = data::load_corpus(task);
    ENSURE(!c.classes.empty(), task, ": not a classification task (known: kjv-genre, fortunes-category, or a "
           "label<TAB>text .tsv file)");
    ENSURE(c.classes.size() >= 2, task, ": needs at least two classes, found ", c.classes.size());
    return c;
}

// Model and optimisation flags shared by pretrain and finetune.
struct BertFlags {
    int64_t layers = 4, hidden = 256, heads = 4, ffn = 1024, seq = 64;
    float dropout = 0.1f;
    void add_to(Args& args) {
        args.add("layers", &layers, "encoder layers")
            .add("hidden", &hidden, "hidden size")
            .add("heads", &heads, "attention heads per layer (head size hidden/heads)")
            .add("ffn", &ffn, "feed-forward width")
            .add("seq", &seq, "maximum sequence length in tokens, [CLS] and [SEP] included")
            .add("dropout", &dropout, "dropout on hidden states and attention probabilities");
    }
    std::string spec(const std::string& name, int64_t vocab, int64_t classes) const {
        std::string s = name + ":vocab=" + std::to_string(vocab) + ",hidden=" + std::to_string(hidden) +
                        ",layers=" + std::to_string(layers) + ",heads=" + std::to_string(heads) +
                        ",ffn=" + std::to_string(ffn) + ",seq=" + std::to_string(seq) +
                        ",dropout=" + std::to_string(dropout) + ",attn_dropout=" + std::to_string(dropout);
        if (classes > 0) s += ",classes=" + std::to_string(classes);
        return nn::BertConfig::from_spec(nn::ModelSpec::parse(s)).to_spec(name).str();
    }
};

void add_train_flags(Args& args, nn::TrainConfig& cfg, int& threads, bool& resume) {
    args.add("epochs", &cfg.epochs, "training epochs")
        .add("max-steps", &cfg.max_steps, "stop after this many steps (0: all epochs)")
        .add("batch-size", &cfg.batch_size, "sequences per step")
        .add("lr", &cfg.lr, "peak learning rate (AdamW)")
        .add("weight-decay", &cfg.weight_decay, "decoupled weight decay")
        .add("schedule", &cfg.schedule, "constant, cosine, warmup-linear or warmup-cosine")
        .add("warmup", &cfg.warmup_fraction, "fraction of steps for linear warm-up")
        .add("clip-grad-norm", &cfg.clip_grad_norm, "clip the global gradient norm (0: off)")
        .add("bucket", &cfg.bucket_batches, "sort windows of this many batches by length (0: off)")
        .add("eval-every", &cfg.eval_every, "steps between validation passes (0: each epoch)")
        .add("checkpoint-every", &cfg.checkpoint_every, "steps between checkpoints (0: each epoch)")
        .add("seed", &cfg.seed, "seed for initialisation, data order, masking and dropout")
        .add("threads", &threads, "worker threads (0: all cores)")
        .add("out", &cfg.out_dir, "output directory (empty: write nothing)")
        .add("resume", &resume, "continue from <out>/last.safetensors if present");
}

nn::TrainConfig text_train_config() {
    nn::TrainConfig cfg;
    cfg.optimizer = "adamw";
    cfg.schedule = "warmup-linear";
    cfg.warmup_fraction = 0.06f;
    cfg.weight_decay = 0.01f;
    cfg.clip_grad_norm = 1.0f;
    cfg.batch_size = 32;
    cfg.bucket_batches = 50;
    cfg.item_name = "tok";
    cfg.eval_test = false;  // the test split is scored once, at the end
    return cfg;
}

void save_final(const std::string& out_dir, const nn::Module& model, const std::map<std::string, std::string>& meta) {
    if (out_dir.empty()) return;
    std::string path = nn::io::join(out_dir, "model.safetensors");
    nn::save_model(path, model, meta);
    std::printf("wrote %s\n", path.c_str());
}

}  // namespace

int cmd_pretrain(const Argv& argv) {
    std::string corpus_name = "kjv";
    int64_t vocab_size = 8192, min_count = 2;
    bool lowercase = true;
    float mask_prob = 0.15f;
    BertFlags model_flags;
    nn::TrainConfig cfg = text_train_config();
    cfg.epochs = 8;
    // At 1e-3 the default model (hidden 256) sat on a plateau near 19 % masked-token accuracy for 5
    // epochs; at 5e-4 it passed 40 % by epoch 4.
    cfg.lr = 5e-4f;
    int threads = 1;
    bool resume = false;
    Args args("secateurs pretrain",
              "Pretrain a mini-BERT by masked-language modelling (15 % of tokens selected; 80/10/10 [MASK]/random/\n"
              "kept) on a corpus split 80/10/10 by hash. Reports masked-token accuracy and perplexity on the held-out\n"
              "test split. Writes metrics.csv, last.safetensors (for --resume), best.safetensors and model.safetensors\n"
              "(the vocabulary is in their metadata) into --out.");
    args.add("corpus", &corpus_name, "kjv, fortunes, or a path (*.tsv: label<TAB>text; else one example per line)")
        .add("vocab-size", &vocab_size, "vocabulary size cap, special tokens included")
        .add("min-count", &min_count, "minimum count of a word in the training split")
        .add("lowercase", &lowercase, "lower-case ASCII letters before splitting")
        .add("mask-prob", &mask_prob, "fraction of tokens selected for prediction");
    model_flags.add_to(args);
    add_train_flags(args, cfg, threads, resume);
    if (!args.parse(argv)) return 0;
    apply_threads(threads);

    data::Corpus corpus = data::load_corpus(corpus_name);
    print_corpus(corpus);
    TextSplits sp = split_corpus(corpus);
    data::TokenizerOptions tok;
    tok.lowercase = lowercase;
    data::Vocab vocab = data::Vocab::build(words_of(sp.train, tok), vocab_size, min_count);
    std::printf("vocabulary: %" PRId64 " tokens (cap %" PRId64 ", min count %" PRId64 ", %s)\n", vocab.size(), vocab_size,
                min_count, lowercase ? "lower-cased" : "cased");
    auto dataset = [&](const data::Corpus& c) {
        data::EncodedText e = data::encode_corpus(c, vocab, tok, model_flags.seq);
        e.labels.clear();
        return data::MlmDataset(std::move(e), vocab.size(), mask_prob);
    };
    data::MlmDataset train = dataset(sp.train), val = dataset(sp.val), test = dataset(sp.test);

    std::string arch = model_flags.spec("bert-mlm", vocab.size(), 0);
    nn::manual_seed(cfg.seed);
    auto net = nn::make_model(arch, cfg.seed);
    auto& mlm = dynamic_cast<nn::BertForMaskedLM&>(*net);
    std::printf("model %s: %" PRId64 " parameters; %" PRId64 " training tokens; %d thread(s)\n", arch.c_str(),
                net->num_parameters(), train.n_tokens(), nn::num_threads());
    nn::Trainer trainer(*net, cfg, train, &val, nullptr);
    trainer.loss_fn = nn::mlm_loss(mlm);
    trainer.metadata["arch"] = arch;
    trainer.metadata["task"] = "mlm";
    trainer.metadata["corpus"] = corpus_name;
    put_tokenizer(trainer.metadata, vocab, tok);
    if (resume && trainer.resume()) std::printf("resumed at step %" PRId64 "\n", trainer.step());
    nn::TrainResult r = trainer.fit();

    nn::EvalResult t = nn::evaluate(*net, test, 512, trainer.loss_fn, cfg.bucket_batches);
    // The baseline that always predicts the most frequent word, on the same test targets.
    int64_t top_hits = 0, n_targets = 0;
    data::DataLoader loader(test, 512, false, 0);
    for (int64_t b = 0; b < loader.n_batches(); b++) {
        data::Batch batch = loader.batch(b);
        for (int64_t y : batch.y.values) {
            if (y == nn::kIgnoreIndex) continue;
            n_targets++;
            top_hits += y == data::Vocab::kNumSpecial;  // the most frequent word has the first word id
        }
    }
    std::printf("test (held-out %zu sequences, %" PRId64 " masked tokens): masked-token accuracy %.2f%%, perplexity %.2f "
                "(loss %.4f); most-frequent-token baseline ('%s') %.2f%%; %" PRId64 " steps in %.1f s\n",
                sp.test.examples.size(), t.n, 100.0 * t.accuracy, std::exp(t.loss), t.loss,
                vocab.token(data::Vocab::kNumSpecial).c_str(), 100.0 * double(top_hits) / double(n_targets), r.steps,
                r.seconds);
    save_final(cfg.out_dir, *net, trainer.metadata);
    return 0;
}

int eval_bert(const nn::st::File& f, const std::string& path, nn::Module& net, const std::string& split) {
    ENSURE(split == "train" || split == "val" || split == "test", "--split must be train, val or test for a text model, got '",
           split, "'");
    auto meta = [&](const char* key, const char* writer) {
        auto it = f.metadata.find(key);
        ENSURE(it != f.metadata.end() && !it->second.empty(), path, ": no \"", key, "\" metadata (", writer,
               " writes it), so the task to evaluate is unknown");
        return it->second;
    };
    data::TokenizerOptions tok;
    data::Vocab vocab = read_tokenizer(f, path, tok);
    nn::BertModel& bert = bert_of(net, path);
    ENSURE(vocab.size() == bert.config.vocab_size, path, ": the stored vocabulary has ", vocab.size(),
           " tokens but the model ", bert.config.vocab_size);
    const int64_t seq = bert.config.max_position;
    auto part = [&](const TextSplits& sp) -> const data::Corpus& {
        return split == "train" ? sp.train : split == "val" ? sp.val : sp.test;
    };
    if (auto* mlm = dynamic_cast<nn::BertForMaskedLM*>(&net)) {
        const std::string corpus_name = meta("corpus", "secateurs pretrain");
        data::Corpus corpus = data::load_corpus(corpus_name);
        TextSplits sp = split_corpus(corpus, false);
        data::MlmDataset ds = mlm_dataset(part(sp), vocab, tok, seq);
        nn::EvalResult r = mlm_eval(*mlm, ds);
        std::printf("masked-token accuracy on %s/%s (%zu sequences, %" PRId64 " masked tokens, masks fixed): %.2f%%, "
                    "perplexity %.2f (loss %.4f)\n",
                    corpus_name.c_str(), split.c_str(), part(sp).examples.size(), r.n, 100.0 * r.accuracy,
                    std::exp(r.loss), r.loss);
        return 0;
    }
    auto& cls = dynamic_cast<nn::BertForSequenceClassification&>(net);
    const std::string task = meta("task", "secateurs finetune");
    data::Corpus corpus = task_corpus(task);
    auto stored = f.metadata.find(kClassesKey);
    if (stored != f.metadata.end()) {
        std::string classes;
        for (auto& c : corpus.classes) classes += (classes.empty() ? "" : "\n") + c;
        ENSURE(stored->second == classes, path, ": its classes differ from those of task ", task,
               " (the labels would not mean what the model learned)");
    }
    ENSURE(int64_t(corpus.classes.size()) == cls.classifier->out_features, path, ": task ", task, " has ",
           corpus.classes.size(), " classes but the classifier ", cls.classifier->out_features, " outputs");
    TextSplits sp = split_corpus(corpus, false);
    data::TextClassDataset ds = class_dataset(part(sp), vocab, tok, seq);
    nn::EvalResult r = class_eval(cls, ds);
    std::printf("accuracy on %s/%s (%" PRId64 " examples): %.2f%% (loss %.4f)\n", task.c_str(), split.c_str(), r.n,
                100.0 * r.accuracy, r.loss);
    return 0;
}

int cmd_finetune(const Argv& argv) {
    std::string task = "kjv-genre", ckpt;
    BertFlags model_flags;
    int64_t vocab_size = 8192, min_count = 2;
    nn::TrainConfig cfg = text_train_config();
    cfg.epochs = 4;
    cfg.lr = 1e-4f;
    cfg.warmup_fraction = 0.1f;
    int threads = 1;
    bool resume = false;
    Args args("secateurs finetune",
              "Fine-tune a pretrained mini-BERT (from `secateurs pretrain`) with a [CLS] classifier. Tasks: kjv-genre\n"
              "(8 book groups from a single verse), fortunes-category, or a label<TAB>text .tsv file; split 80/10/10\n"
              "by hash. Without --ckpt the encoder starts from random weights (a control) and the model flags apply.\n"
              "Also reports the multinomial naive-Bayes baseline on the same split.");
    args.add("task", &task, "kjv-genre, fortunes-category, or a label<TAB>text .tsv path")
        .add("ckpt", &ckpt, "pretrained MLM checkpoint (model.safetensors of secateurs pretrain)")
        .add("vocab-size", &vocab_size, "without --ckpt: vocabulary size cap")
        .add("min-count", &min_count, "without --ckpt: minimum word count");
    model_flags.add_to(args);
    add_train_flags(args, cfg, threads, resume);
    if (!args.parse(argv)) return 0;
    apply_threads(threads);

    data::Corpus corpus = task_corpus(task);
    print_corpus(corpus);
    TextSplits sp = split_corpus(corpus);
    const int n_classes = int(corpus.classes.size());

    data::TokenizerOptions tok;
    data::Vocab vocab;
    nn::st::File pre;
    std::string arch;
    if (!ckpt.empty()) {
        pre = nn::st::File::read(ckpt);
        vocab = read_tokenizer(pre, ckpt, tok);
        auto a = pre.metadata.find("arch");
        ENSURE(a != pre.metadata.end(), ckpt, ": no \"arch\" metadata, so the encoder cannot be rebuilt");
        nn::ModelSpec spec = nn::ModelSpec::parse(a->second);
        ENSURE(spec.name == "bert-mlm" || spec.name == "bert-cls", ckpt, ": arch '", a->second, "' is not a BERT model");
        nn::BertConfig c = nn::BertConfig::from_spec(spec);
        c.n_classes = n_classes;
        arch = c.to_spec("bert-cls").str();
    } else {
        vocab = data::Vocab::build(words_of(sp.train, tok), vocab_size, min_count);
        arch = model_flags.spec("bert-cls", vocab.size(), n_classes);
    }
    nn::BertConfig config = nn::BertConfig::from_spec(nn::ModelSpec::parse(arch));
    auto dataset = [&](const data::Corpus& c) {
        return data::TextClassDataset(data::encode_corpus(c, vocab, tok, config.max_position), n_classes);
    };
    data::TextClassDataset train = dataset(sp.train), val = dataset(sp.val), test = dataset(sp.test);

    nn::manual_seed(cfg.seed);
    auto net = nn::make_model(arch, cfg.seed);
    auto& model = dynamic_cast<nn::BertForSequenceClassification&>(*net);
    if (!ckpt.empty()) {  // the encoder from the checkpoint; pooler and classifier start fresh
        nn::load_module(pre, *model.bert->embeddings, ckpt, "bert.embeddings.");
        nn::load_module(pre, *model.bert->encoder, ckpt, "bert.encoder.");
    }
    std::printf("model %s: %" PRId64 " parameters, encoder %s; %d thread(s)\n", arch.c_str(), net->num_parameters(),
                ckpt.empty() ? "randomly initialised" : ("from " + ckpt).c_str(), nn::num_threads());

    nn::Trainer trainer(*net, cfg, train, &val, nullptr);
    trainer.loss_fn = nn::sequence_classification_loss(model);
    trainer.metadata["arch"] = arch;
    trainer.metadata["task"] = task;
    if (!ckpt.empty()) trainer.metadata["pretrained"] = ckpt;
    std::string classes;
    for (auto& c : corpus.classes) {
        if (!classes.empty()) classes += '\n';
        classes += c;
    }
    trainer.metadata[kClassesKey] = classes;
    put_tokenizer(trainer.metadata, vocab, tok);
    if (resume && trainer.resume()) std::printf("resumed at step %" PRId64 "\n", trainer.step());
    nn::TrainResult r = trainer.fit();
    nn::EvalResult t = nn::evaluate(*net, test, 512, trainer.loss_fn, cfg.bucket_batches);

    // Baselines on the same split and tokenizer: majority class, and naive Bayes with its smoothing
    // chosen on the validation split.
    std::vector<int64_t> train_labels = labels_of(sp.train), test_labels = labels_of(sp.test);
    std::vector<int64_t> per_class(size_t(n_classes), 0);
    for (int64_t l : train_labels) per_class[size_t(l)]++;
    int64_t majority = int64_t(std::max_element(per_class.begin(), per_class.end()) - per_class.begin());
    int64_t majority_hits = 0;
    for (int64_t l : test_labels) majority_hits += l == majority;
    double alpha = 0;
    NaiveBayes nb = fit_naive_bayes_tuned(words_of(sp.train, tok), train_labels, words_of(sp.val, tok), labels_of(sp.val),
                                          n_classes, {0.03, 0.1, 0.3, 1.0}, &alpha);
    double nb_acc = nb.accuracy(words_of(sp.test, tok), test_labels);
    std::printf("test (held-out %" PRId64 " examples): accuracy %.2f%% (loss %.4f) after %" PRId64 " steps in %.1f s; "
                "best validation %.2f%% at step %" PRId64 "\n",
                t.n, 100.0 * t.accuracy, t.loss, r.steps, r.seconds, 100.0 * r.best_val_acc, r.best_step);
    std::printf("baselines on the same test split: naive Bayes (bag of words, alpha %.2g) %.2f%%, majority class ('%s') "
                "%.2f%%\n",
                alpha, 100.0 * nb_acc, corpus.classes[size_t(majority)].c_str(),
                100.0 * double(majority_hits) / double(test_labels.size()));
    save_final(cfg.out_dir, *net, trainer.metadata);
    return 0;
}

int cmd_baseline(const Argv& argv) {
    std::string task = "kjv-genre";
    bool lowercase = true;
    Args args("secateurs baseline",
              "Multinomial naive Bayes on bags of words (smoothing chosen on the validation split) and the majority\n"
              "class, on the hash split of a classification task.");
    args.add("task", &task, "kjv-genre, fortunes-category, or a label<TAB>text .tsv path")
        .add("lowercase", &lowercase, "lower-case ASCII letters before splitting");
    if (!args.parse(argv)) return 0;
    data::Corpus corpus = task_corpus(task);
    print_corpus(corpus);
    TextSplits sp = split_corpus(corpus);
    data::TokenizerOptions tok;
    tok.lowercase = lowercase;
    const int n_classes = int(corpus.classes.size());
    std::vector<int64_t> train_labels = labels_of(sp.train), val_labels = labels_of(sp.val), test_labels = labels_of(sp.test);
    auto train_docs = words_of(sp.train, tok), val_docs = words_of(sp.val, tok), test_docs = words_of(sp.test, tok);
    std::printf("%-8s %10s %10s\n", "alpha", "val acc", "test acc");
    for (double a : {0.03, 0.1, 0.3, 1.0}) {
        NaiveBayes nb;
        nb.fit(train_docs, train_labels, n_classes, a);
        std::printf("%-8g %9.2f%% %9.2f%%\n", a, 100.0 * nb.accuracy(val_docs, val_labels),
                    100.0 * nb.accuracy(test_docs, test_labels));
    }
    double alpha = 0;
    NaiveBayes nb = fit_naive_bayes_tuned(train_docs, train_labels, val_docs, val_labels, n_classes, {0.03, 0.1, 0.3, 1.0},
                                          &alpha);
    std::vector<int64_t> per_class(size_t(n_classes), 0);
    for (int64_t l : train_labels) per_class[size_t(l)]++;
    int64_t majority = int64_t(std::max_element(per_class.begin(), per_class.end()) - per_class.begin());
    int64_t hits = 0;
    for (int64_t l : test_labels) hits += l == majority;
    std::printf("naive Bayes (alpha %.2g, chosen on validation): test accuracy %.2f%%; majority class ('%s'): %.2f%%\n",
                alpha, 100.0 * nb.accuracy(test_docs, test_labels), corpus.classes[size_t(majority)].c_str(),
                100.0 * double(hits) / double(test_labels.size()));
    return 0;
}

int cmd_bert_stats(const Argv& argv) {
    std::string ckpt, out;
    float threshold = 0.01f, rel_threshold = 0.1f;
    Args args("secateurs bert-stats",
              "Weight statistics of a BERT checkpoint: per-matrix near-zero fractions (weights.csv), embedding rows\n"
              "with their word's length and training frequency (embedding_rows.csv), and attention-head weight norms\n"
              "(heads.csv). Prints the per-matrix table.");
    args.add("ckpt", &ckpt, "BERT checkpoint (pretrain or finetune output)")
        .add("out", &out, "directory for the CSV files (empty: print only)")
        .add("threshold", &threshold, "|w| below this counts as near zero")
        .add("rel-threshold", &rel_threshold, "also: |w| below this times the matrix's std");
    if (!args.parse(argv)) return 0;
    ENSURE(!ckpt.empty(), "--ckpt FILE is required");
    nn::st::File f = nn::st::File::read(ckpt);
    auto a = f.metadata.find("arch");
    ENSURE(a != f.metadata.end(), ckpt, ": no \"arch\" metadata, so the model cannot be rebuilt");
    auto net = nn::make_model(a->second, 0);
    nn::load_module(f, *net, ckpt);
    nn::BertModel* bert = nullptr;
    if (auto* m = dynamic_cast<nn::BertForMaskedLM*>(net.get())) bert = m->bert.get();
    if (auto* m = dynamic_cast<nn::BertForSequenceClassification*>(net.get())) bert = m->bert.get();
    ENSURE(bert, ckpt, ": arch '", a->second, "' is not a BERT model");
    data::TokenizerOptions tok;
    data::Vocab vocab = read_tokenizer(f, ckpt, tok);

    auto stats = nn::weight_stats(*net, threshold, rel_threshold);
    std::string csv = "name,rows,cols,numel,zeros,near_zero,near_zero_rel,mean_abs,std,max_abs\n";
    std::printf("%-58s %12s %9s %9s %9s\n", "matrix", "shape", "|w|<thr", "|w|<r*std", "mean|w|");
    for (auto& s : stats) {
        std::printf("%-58s %12s %8.2f%% %8.2f%% %9.4f\n", s.name.c_str(), nn::to_string(s.shape).c_str(),
                    100.0 * s.near_zero, 100.0 * s.near_zero_rel, s.mean_abs);
        csv += nn::str_cat(s.name, ",", s.shape[0], ",", s.numel / s.shape[0], ",", s.numel, ",", s.n_zero, ",",
                           s.near_zero, ",", s.near_zero_rel, ",", s.mean_abs, ",", s.std, ",", s.max_abs, "\n");
    }
    const nn::Tensor& emb = bert->embeddings->word_embeddings->weight;
    ENSURE(emb.size(0) == vocab.size(), ckpt, ": the embedding has ", emb.size(0), " rows but the vocabulary ",
           vocab.size(), " tokens");
    auto rows = nn::row_stats(emb, threshold);
    std::string rows_csv = "id,token,length,count,l1,l2,max_abs,near_zero,zeros\n";
    for (int64_t i = 0; i < vocab.size(); i++) {
        const std::string& w = vocab.token(i);
        int64_t len = 0;  // code points
        for (char c : w) len += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        std::string quoted = "\"";
        for (char c : w) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        quoted += "\"";
        const auto& r = rows[size_t(i)];
        rows_csv += nn::str_cat(i, ",", quoted, ",", len, ",", vocab.count(i), ",", r.l1, ",", r.l2, ",", r.max_abs, ",",
                                r.near_zero, ",", r.n_zero, "\n");
    }
    std::string heads_csv = "layer,head,query,key,value,output,total\n";
    for (auto& h : nn::head_weight_norms(*bert))
        heads_csv += nn::str_cat(h.layer, ",", h.head, ",", h.query, ",", h.key, ",", h.value, ",", h.output, ",",
                                 h.total, "\n");
    if (!out.empty()) {
        nn::io::make_dirs(out);
        nn::io::write_text_atomic(nn::io::join(out, "weights.csv"), csv);
        nn::io::write_text_atomic(nn::io::join(out, "embedding_rows.csv"), rows_csv);
        nn::io::write_text_atomic(nn::io::join(out, "heads.csv"), heads_csv);
        std::printf("wrote weights.csv, embedding_rows.csv and heads.csv into %s\n", out.c_str());
    }
    return 0;
}

}  // namespace experiments
