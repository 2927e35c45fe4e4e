// The BERT experiments, on one mini-BERT pretrained on the KJV and fine-tuned for genre (cached by
// Context::bert and shared by both):
//   bert-layers (C11): near-zero fractions and |w| distributions of the encoder's Q/K/V/O and FFN
//     matrices across depth; one-shot global against local |w| pruning of those matrices at equal
//     total sparsity, scored by held-out masked-token accuracy and genre accuracy.
//   bert-embedding (C12): norm and sparsity of the word-embedding rows against word length and
//     frequency; what per-row local, matrix-local and global pruning remove from the embedding, by
//     word length, and what it costs in masked-token accuracy.
// Pruning is one-shot without recovery training: the question is what magnitude pruning removes, and
// what that costs, on the trained weights.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>

#include "experiments/bert_common.hpp"
#include "experiments/exp_common.hpp"
#include "nn/checkpoint.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/weight_stats.hpp"

namespace experiments {

namespace {

// The cached models with their tokenizer and the held-out test data, loaded once per process.
struct BertAssets {
    Context::Bert info;
    Context::BertRecipe recipe;
    data::Vocab vocab;
    data::TokenizerOptions tok;
    std::unique_ptr<data::MlmDataset> mlm_test;
    std::unique_ptr<data::TextClassDataset> genre_test;
};

// ETA cost (exp_common.hpp's units) of pretraining and fine-tuning the cached model: weight and
// attention MACs per token (the MLM head only at the 15 % selected positions) over about 26,000
// training verses of about 32 tokens; times kBertSlowdown, the lower throughput per MAC of its small
// matrices, layer norms and softmaxes (measured on the quick profile's model: 216 s of training
// against 161 s estimated without it).
constexpr double kBertSlowdown = 1.3;
double pretrain_cost(const Context::BertRecipe& r) {
    const double h = double(r.hidden), layer = 4 * h * h + 2 * h * double(r.ffn) + 2 * double(r.seq) * h;
    const double encoder = double(r.layers) * layer, mlm_head = 0.15 * h * double(r.vocab);
    auto tokens = [&](int64_t epochs, int64_t max_steps) {
        return max_steps > 0 ? double(max_steps * r.batch) * 32 : double(epochs) * 26000 * 32;
    };
    return kBertSlowdown * macs_cost((encoder + mlm_head) * tokens(r.epochs, r.max_steps) +
                                     encoder * tokens(r.genre_epochs, r.genre_max_steps));
}

const BertAssets& assets(Context& ctx) {
    static std::map<std::string, std::unique_ptr<BertAssets>> cache;
    Context::BertRecipe r = ctx.bert_recipe();
    Context::Bert b = ctx.bert(r);
    auto& slot = cache[b.mlm_path];
    if (!slot) {
        slot = std::make_unique<BertAssets>();
        slot->info = b;
        slot->recipe = r;
        nn::st::File f = nn::st::File::read(b.mlm_path);
        slot->vocab = read_tokenizer(f, b.mlm_path, slot->tok);
        data::Corpus corpus = data::load_corpus("kjv");
        TextSplits sp = split_corpus(corpus, false);
        slot->mlm_test = std::make_unique<data::MlmDataset>(mlm_dataset(sp.test, slot->vocab, slot->tok, r.seq));
        slot->genre_test = std::make_unique<data::TextClassDataset>(class_dataset(sp.test, slot->vocab, slot->tok, r.seq));
    }
    return *slot;
}

std::shared_ptr<nn::Module> load_bert(const std::string& path) {
    nn::st::File f = nn::st::File::read(path);
    auto a = f.metadata.find("arch");
    ENSURE(a != f.metadata.end(), path, ": no \"arch\" metadata");
    auto net = nn::make_model(a->second, 0);
    nn::load_module(f, *net, path);
    return net;
}

double mlm_accuracy(nn::Module& m, const BertAssets& a) {
    return mlm_eval(dynamic_cast<nn::BertForMaskedLM&>(m), *a.mlm_test).accuracy;
}
double genre_accuracy(nn::Module& m, const BertAssets& a) {
    return class_eval(dynamic_cast<nn::BertForSequenceClassification&>(m), *a.genre_test).accuracy;
}

// Median of |w|.
double median_abs(const nn::Tensor& w) {
    nn::Tensor c = w.contiguous();
    std::vector<float> v(c.data(), c.data() + c.numel());
    for (float& x : v) x = std::fabs(x);
    auto mid = v.begin() + std::ptrdiff_t(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return double(*mid);
}

// Spearman rank correlation (ties get their mean rank).
double spearman(const std::vector<double>& x, const std::vector<double>& y) {
    auto ranks = [](const std::vector<double>& v) {
        std::vector<size_t> idx(v.size());
        std::iota(idx.begin(), idx.end(), 0);
        std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
        std::vector<double> r(v.size());
        for (size_t i = 0; i < idx.size();) {
            size_t j = i;
            while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) j++;
            for (size_t k = i; k <= j; k++) r[idx[k]] = 0.5 * double(i + j);
            i = j + 1;
        }
        return r;
    };
    std::vector<double> rx = ranks(x), ry = ranks(y);
    double n = double(x.size()), mx = 0, my = 0;
    for (size_t i = 0; i < x.size(); i++) mx += rx[i] / n, my += ry[i] / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < x.size(); i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

// "encoder.layer.2.attention.self.query.weight" -> layer 2, matrix "query".
struct MatrixName {
    int layer = -1;
    std::string kind;
};
MatrixName parse_matrix(const std::string& name) {
    static const std::vector<std::pair<std::string, std::string>> kinds = {
        {"attention.self.query.weight", "query"},  {"attention.self.key.weight", "key"},
        {"attention.self.value.weight", "value"},  {"attention.output.dense.weight", "attn-out"},
        {"intermediate.dense.weight", "ffn-in"},   {"output.dense.weight", "ffn-out"}};
    MatrixName m;
    size_t p = name.find("encoder.layer.");
    if (p == std::string::npos) return m;
    size_t q = p + 14, dot = name.find('.', q);
    m.layer = std::stoi(name.substr(q, dot - q));
    std::string rest = name.substr(dot + 1);
    for (auto& [suffix, kind] : kinds)
        if (rest == suffix) m.kind = kind;
    return m;
}

// One-shot |w| pruning of the encoder's Q/K/V/O and FFN matrices: one global ranking or each
// matrix at the total ratio. Applies the masks and returns them.
prune::MaskSet prune_encoder(nn::Module& m, int64_t n_layers, bool global, double sparsity) {
    auto weights = prune::pick(m.named_parameters(), prune::bert_encoder_weights(n_layers));
    prune::PruneSpec spec;
    spec.global = global;
    spec.amount = prune::Amount::fraction(sparsity);
    prune::MaskSet masks = prune::decide_masks(weights, {}, spec);
    masks.apply(m);
    return masks;
}

const std::vector<std::string> kMatrixKinds = {"query", "key", "value", "attn-out", "ffn-in", "ffn-out"};

// ---------------------------------------------------------------------------------------------------
class BertLayers : public Experiment {
public:
    std::string name() const override { return "bert-layers"; }
    std::string title() const override { return "BERT: per-layer sparsity, global against local pruning (C11)"; }
    std::vector<std::string> claims() const override { return {"C11"}; }

    void configure(Args& args, Profile profile) override {
        sparsities_ = profile == Profile::Smoke ? "0.5" : profile == Profile::Full ? "0.3,0.5,0.6,0.7,0.8,0.9" : "0.3,0.5,0.7,0.9";
        args.add("sparsities", &sparsities_, "total sparsities of the encoder's Q/K/V/O and FFN matrices")
            .add("threshold", &threshold_, "|w| below this counts as near zero")
            .add("rel-threshold", &rel_threshold_, "also reported: |w| below this times the matrix's std");
    }

    std::vector<Point> points(Context& ctx) override {
        // The first point trains the cached model this experiment shares with bert-embedding (which
        // runs after it in the suite), so its cost includes that training.
        std::vector<Point> out{{"dense", {{"scope", "dense"}, {"sparsity", "0"}}, 1.0 + pretrain_cost(ctx.bert_recipe())}};
        for (double s : parse_doubles(sparsities_, "--sparsities"))
            for (const char* scope : {"global", "local"})
                out.push_back({std::string(scope) + "-" + fmt(s, 4), {{"scope", scope}, {"sparsity", fmt(s, 6)}}, 1.0});
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        const BertAssets& a = assets(ctx);
        auto mlm = load_bert(a.info.mlm_path), cls = load_bert(a.info.genre_path);
        const int64_t L = bert_of(*mlm, a.info.mlm_path).config.n_layers;
        std::string scope = p.at("scope");
        double sparsity = p.num("sparsity");
        prune::MaskSet mlm_masks, cls_masks;
        if (scope != "dense") {
            mlm_masks = prune_encoder(*mlm, L, scope == "global", sparsity);
            cls_masks = prune_encoder(*cls, L, scope == "global", sparsity);
        }
        ctx.note("bert-layers " + p.id + ": evaluating");
        double mlm_acc = mlm_accuracy(*mlm, a), genre_acc = genre_accuracy(*cls, a);
        Table t({"scope", "sparsity", "layer", "matrix", "numel", "near_zero", "near_zero_rel", "mean_abs", "std",
                 "median_abs", "layer_sparsity", "genre_layer_sparsity", "mlm_acc", "genre_acc"});
        auto cls_params = cls->named_parameters();
        for (auto& [name, w] : prune::pick(mlm->named_parameters(), prune::bert_encoder_weights(L))) {
            MatrixName mn = parse_matrix(name);
            nn::TensorStats st = nn::tensor_stats(name, w, threshold_, rel_threshold_);
            double sp = 1.0 - density_of({{name, w}}, mlm_masks);
            double gsp = 1.0 - density_of(prune::pick(cls_params, {name}), cls_masks);
            t.add({scope, p.at("sparsity"), std::to_string(mn.layer), mn.kind, std::to_string(w.numel()), fmt(st.near_zero),
                   fmt(st.near_zero_rel), fmt(st.mean_abs), fmt(st.std), fmt(scope == "dense" ? median_abs(w) : NAN), fmt(sp),
                   fmt(gsp), fmt(mlm_acc), fmt(genre_acc)});
        }
        return t;
    }

    Section analyse(Context& ctx, const Table& r) override {
        const BertAssets& a = assets(ctx);
        Section s;
        s.setup = "One mini-BERT (" + a.recipe.describe() + "), pretrained by masked-language modelling on the KJV "
                  "(held-out masked-token accuracy " + fmt_fixed(100 * a.info.mlm_acc, 2) + " %) and fine-tuned for "
                  "8-way genre (held-out accuracy " + fmt_fixed(100 * a.info.genre_acc, 2) + " %), shared with "
                  "bert-embedding. Near zero: |w| < " + fmt(threshold_) + ". Pruning: the Q/K/V/O and FFN weight "
                  "matrices of every encoder layer (embedding, biases and LayerNorm kept), one-shot by |w| without "
                  "recovery training, either one global ranking over all of them or each matrix at the total ratio "
                  "(local). The pretrained model is pruned for masked-token accuracy and the fine-tuned one (its own "
                  "weights, same rule) for genre accuracy; both on the held-out test split.";
        Table dense = r.where({{"scope", "dense"}});
        std::vector<std::string> layers = dense.distinct("layer");
        // Near-zero fraction per matrix kind x layer (heatmap + table), and per layer over all kinds.
        std::vector<std::vector<double>> heat;
        std::vector<std::string> layer_labels;
        for (auto& l : layers) layer_labels.push_back("layer " + l);
        std::vector<std::string> cols = {"matrix"};
        cols.insert(cols.end(), layer_labels.begin(), layer_labels.end());
        Table nz(cols);
        for (auto& k : kMatrixKinds) {
            std::vector<double> row;
            std::vector<std::string> cells = {k};
            for (auto& l : layers) {
                Table c = dense.where({{"layer", l}, {"matrix", k}});
                double v = c.empty() ? NAN : c.num(0, "near_zero");
                row.push_back(v);
                cells.push_back(fmt_fixed(100 * v, 1) + " %");
            }
            heat.push_back(row);
            nz.add(cells);
        }
        std::vector<double> per_layer;  // near-zero fraction over all six matrices of a layer
        std::vector<std::string> cells = {"all (weighted)"};
        for (auto& l : layers) {
            Table c = dense.where({{"layer", l}});
            double n = 0, z = 0;
            for (size_t i = 0; i < c.size(); i++) {
                n += c.num(i, "numel");
                z += c.num(i, "numel") * c.num(i, "near_zero");
            }
            per_layer.push_back(z / n);
            cells.push_back(fmt_fixed(100 * z / n, 1) + " %");
        }
        nz.add(cells);
        plot::Axes ha;
        ha.title = "Fraction of |w| < " + fmt(threshold_) + " by matrix and depth";
        ha.xlabel = "encoder layer";
        ha.ylabel = "matrix";
        s.figures.push_back({"near_zero.svg", "Near-zero fraction of each encoder matrix across depth.",
                             plot::heatmap(ha, kMatrixKinds, layer_labels, heat, true)});
        s.tables.push_back({"Near-zero fraction (|w| < " + fmt(threshold_) + ") of the pretrained encoder's matrices.", nz});

        // |w| distributions per layer, from the pretrained weights.
        {
            auto mlm = load_bert(a.info.mlm_path);
            int64_t L = bert_of(*mlm, a.info.mlm_path).config.n_layers;
            std::vector<plot::Series> hist(static_cast<size_t>(L), plot::Series{});
            std::vector<float> all;
            for (auto& [name, w] : prune::pick(mlm->named_parameters(), prune::bert_encoder_weights(L))) {
                MatrixName mn = parse_matrix(name);
                nn::Tensor c = w.contiguous();
                auto& h = hist[size_t(mn.layer)];
                h.label = "layer " + std::to_string(mn.layer);
                for (int64_t i = 0; i < c.numel(); i++) {
                    h.x.push_back(std::fabs(c.data()[i]));
                    all.push_back(std::fabs(c.data()[i]));
                }
            }
            auto q = all.begin() + std::ptrdiff_t(double(all.size()) * 0.995);
            std::nth_element(all.begin(), q, all.end());
            plot::Axes pa;
            pa.title = "|w| of the encoder matrices by layer";
            pa.xlabel = "|w| (up to the 99.5th percentile)";
            pa.ylabel = "weights";
            pa.x_min = 0;
            pa.x_max = *q;
            s.figures.push_back({"abs_w.svg", "Distribution of |w| over each layer's Q/K/V/O and FFN weights.",
                                 plot::histogram(pa, hist, 40)});
        }

        // Accuracy against sparsity, global vs local.
        Table pruned = r.where({{"matrix", "query"}, {"layer", "0"}});  // one row per point
        double dense_mlm = dense.num(0, "mlm_acc"), dense_genre = dense.num(0, "genre_acc");
        auto curves = [&](const std::string& col) {
            std::vector<plot::Series> out;
            for (const std::string scope : {"global", "local"}) {
                plot::Series sr;
                sr.label = scope;
                sr.x.push_back(0);
                sr.y.push_back(col == "mlm_acc" ? dense_mlm : dense_genre);
                Table c = pruned.where({{"scope", scope}});
                for (size_t i = 0; i < c.size(); i++) {
                    sr.x.push_back(c.num(i, "sparsity"));
                    sr.y.push_back(c.num(i, col));
                }
                out.push_back(sr);
            }
            return out;
        };
        plot::Axes ma;
        ma.title = "Masked-token accuracy after one-shot pruning";
        ma.xlabel = "sparsity of the encoder matrices";
        ma.ylabel = "held-out masked-token accuracy";
        ma.percent_x = ma.percent_y = true;
        s.figures.push_back({"mlm.svg", "Masked-token accuracy, global vs local |w| pruning.", plot::line_chart(ma, curves("mlm_acc"))});
        plot::Axes ga = ma;
        ga.title = "Genre accuracy after one-shot pruning";
        ga.ylabel = "held-out genre accuracy";
        s.figures.push_back({"genre.svg", "Genre accuracy, global vs local |w| pruning.", plot::line_chart(ga, curves("genre_acc"))});
        Table acc({"sparsity", "MLM global", "MLM local", "genre global", "genre local"});
        acc.add({"0 (dense)", fmt_fixed(100 * dense_mlm, 2), fmt_fixed(100 * dense_mlm, 2), fmt_fixed(100 * dense_genre, 2),
                 fmt_fixed(100 * dense_genre, 2)});
        std::vector<std::string> totals = pruned.where({{"scope", "global"}}).distinct("sparsity");
        int passed = 0, total = 0;
        std::string evidence;
        for (auto& tot : totals) {
            Table g = pruned.where({{"scope", "global"}, {"sparsity", tot}}), l = pruned.where({{"scope", "local"}, {"sparsity", tot}});
            if (g.empty() || l.empty()) continue;
            double gm = g.num(0, "mlm_acc"), lm = l.num(0, "mlm_acc"), gg = g.num(0, "genre_acc"), lg = l.num(0, "genre_acc");
            acc.add({fmt(100 * std::stod(tot), 3) + " %", fmt_fixed(100 * gm, 2), fmt_fixed(100 * lm, 2), fmt_fixed(100 * gg, 2),
                     fmt_fixed(100 * lg, 2)});
            passed += lm >= gm;
            passed += lg >= gg;
            total += 2;
            evidence += std::string(evidence.empty() ? "" : "; ") + "at " + fmt(100 * std::stod(tot), 3) + " %: MLM local " +
                        fmt_fixed(100 * lm, 2) + " vs global " + fmt_fixed(100 * gm, 2) + ", genre local " +
                        fmt_fixed(100 * lg, 2) + " vs global " + fmt_fixed(100 * gg, 2);
        }
        s.tables.push_back({"Held-out accuracy (%) after one-shot pruning of the encoder matrices.", acc});

        // Per-layer sparsity the global ranking produces (middle level), against local's uniform ratio.
        const std::string mid = totals.empty() ? "" : totals[totals.size() / 2];
        std::vector<double> global_layer_sp;
        if (!mid.empty()) {
            std::vector<std::string> cl = {"matrix"};
            cl.insert(cl.end(), layer_labels.begin(), layer_labels.end());
            Table gl(cl);
            std::vector<plot::Series> bars;
            for (auto& k : kMatrixKinds) {
                plot::Series b;
                b.label = k;
                std::vector<std::string> row = {k};
                for (auto& l : layers) {
                    Table c = r.where({{"scope", "global"}, {"sparsity", mid}, {"layer", l}, {"matrix", k}});
                    double v = c.empty() ? NAN : c.num(0, "layer_sparsity");
                    b.y.push_back(v);
                    row.push_back(fmt_fixed(100 * v, 1) + " %");
                }
                bars.push_back(b);
                gl.add(row);
            }
            for (auto& l : layers) {
                Table c = r.where({{"scope", "global"}, {"sparsity", mid}, {"layer", l}});
                double n = 0, z = 0;
                for (size_t i = 0; i < c.size(); i++) {
                    n += c.num(i, "numel");
                    z += c.num(i, "numel") * c.num(i, "layer_sparsity");
                }
                global_layer_sp.push_back(z / n);
            }
            plot::Axes pb;
            pb.title = "Sparsity global pruning gives each matrix at " + fmt(100 * std::stod(mid), 3) + " % total";
            pb.xlabel = "encoder layer";
            pb.ylabel = "sparsity";
            pb.percent_y = true;
            pb.y_min = 0;
            pb.y_max = 1;
            s.figures.push_back({"global_layers.svg", "Per-matrix sparsity of one global |w| ranking (local pruning gives every matrix the total).",
                                 plot::grouped_bars(pb, layer_labels, bars)});
            s.tables.push_back({"Per-matrix sparsity of global pruning of the pretrained model at " +
                                    fmt(100 * std::stod(mid), 3) + " % total.", gl});
        }

        // Verdict. (1) the per-layer near-zero fraction neither only rises nor only falls with depth;
        // (2) global pruning's per-layer sparsities spread over more than 10 points; (3) local >= global
        // on both metrics at every level; (4) |w| works: at the lowest level, the better scope keeps
        // both metrics within 2 points of dense.
        bool rises = false, falls = false;
        for (size_t i = 1; i < per_layer.size(); i++) {
            rises = rises || per_layer[i] > per_layer[i - 1];
            falls = falls || per_layer[i] < per_layer[i - 1];
        }
        std::string profile_text;
        for (double v : per_layer) profile_text += (profile_text.empty() ? "" : ", ") + fmt_fixed(100 * v, 1) + " %";
        total++;
        passed += rises && falls;
        double spread = NAN;
        if (!global_layer_sp.empty()) {
            spread = *std::max_element(global_layer_sp.begin(), global_layer_sp.end()) -
                     *std::min_element(global_layer_sp.begin(), global_layer_sp.end());
            total++;
            passed += spread > 0.10;
        }
        std::string works;
        if (!totals.empty()) {
            const std::string& lo = totals.front();
            Table g = pruned.where({{"scope", "global"}, {"sparsity", lo}}), l = pruned.where({{"scope", "local"}, {"sparsity", lo}});
            if (!g.empty() && !l.empty()) {
                double m = std::max(g.num(0, "mlm_acc"), l.num(0, "mlm_acc")), gg = std::max(g.num(0, "genre_acc"), l.num(0, "genre_acc"));
                total++;
                passed += dense_mlm - m <= 0.02 && dense_genre - gg <= 0.02;
                works = "at " + fmt(100 * std::stod(lo), 3) + " % the better scope loses " + fmt_fixed(100 * (dense_mlm - m), 2) +
                        " points of masked-token accuracy and " + fmt_fixed(100 * (dense_genre - gg), 2) + " of genre accuracy";
            }
        }
        s.verdicts.push_back(
            {"C11",
             "BERT's per-layer sparsity is inconsistent across depth, so global pruning is unsuitable; most weights are "
             "near zero, so |w| pruning works.",
             verdict_from(passed, total),
             "checks: (1) the per-layer near-zero fraction both rises and falls between consecutive layers; (2) one "
             "global |w| ranking at the middle sparsity gives layers sparsities more than 10 points apart; (3) at every "
             "sparsity local pruning's masked-token and genre accuracy are at least global's (two checks per level); "
             "(4) at the lowest sparsity the better scope stays within 2 points of the dense model on both metrics. "
             "Holds if all pass, partly if some do",
             std::to_string(passed) + " of " + std::to_string(total) + " checks pass: near-zero fraction by layer " +
                 profile_text + (rises && falls ? " (rises and falls)" : " (monotonic)") +
                 "; global per-layer spread " + fmt_fixed(100 * spread, 1) + " points; " + evidence +
                 (works.empty() ? "" : "; " + works)});
        double nz_all = 0, n_all = 0;
        for (size_t i = 0; i < dense.size(); i++) {
            n_all += dense.num(i, "numel");
            nz_all += dense.num(i, "numel") * dense.num(i, "near_zero");
        }
        s.notes.push_back("Over all encoder matrices " + fmt_fixed(100 * nz_all / n_all, 1) + " % of the weights have |w| < " +
                          fmt(threshold_) + "; whether that is \"most\" depends on the threshold, so the verdict rests on "
                          "what pruning them costs instead.");
        s.notes.push_back("Pruning is one-shot without recovery training, and the fine-tuned model is pruned by its own "
                          "weights; with fine-tuning after pruning the gaps would shrink.");
        return s;
    }

private:
    std::string sparsities_;
    float threshold_ = 0.01f, rel_threshold_ = 0.1f;
};

// ---------------------------------------------------------------------------------------------------
// Words only (a letter inside; punctuation and the special tokens are left out), by length bucket.
const std::vector<std::string> kBuckets = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10+"};
int bucket_of(int64_t len) { return int(std::min<int64_t>(len, 10)) - 1; }
int64_t word_length(const std::string& w) {
    bool letter = false;
    int64_t n = 0;
    for (char c : w) {
        unsigned char u = static_cast<unsigned char>(c);
        letter = letter || std::isalpha(u);
        n += (u & 0xC0) != 0x80;
    }
    return letter ? n : 0;
}

class BertEmbedding : public Experiment {
public:
    std::string name() const override { return "bert-embedding"; }
    std::string title() const override { return "BERT: embedding rows, word length and embedding pruning (C12)"; }
    std::vector<std::string> claims() const override { return {"C12"}; }

    void configure(Args& args, Profile profile) override {
        sparsities_ = profile == Profile::Smoke ? "0.5" : profile == Profile::Full ? "0.3,0.5,0.7,0.9" : "0.3,0.5,0.7";
        args.add("sparsities", &sparsities_, "sparsities of the word embedding")
            .add("rel-threshold", &rel_threshold_, "near zero: |w| below this times the std of the whole embedding");
    }

    std::vector<Point> points(Context&) override {
        std::vector<Point> out{{"dense", {{"scope", "dense"}, {"sparsity", "0"}}, 1.0}};
        for (double s : parse_doubles(sparsities_, "--sparsities"))
            for (const char* scope : {"row", "matrix", "global"})
                out.push_back({std::string(scope) + "-" + fmt(s, 4), {{"scope", scope}, {"sparsity", fmt(s, 6)}}, 1.0});
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        const BertAssets& a = assets(ctx);
        auto mlm = load_bert(a.info.mlm_path);
        nn::BertModel& bert = bert_of(*mlm, a.info.mlm_path);
        const std::string emb_name = "bert.embeddings.word_embeddings.weight";
        nn::Tensor W = bert.embeddings->word_embeddings->weight;  // [V, H]
        const int64_t V = W.size(0), H = W.size(1);
        ENSURE(V == a.vocab.size(), a.info.mlm_path, ": embedding rows ", V, " != vocabulary ", a.vocab.size());
        std::string scope = p.at("scope");
        double sparsity = p.num("sparsity");
        nn::Tensor orig = W.contiguous().clone();
        nn::Tensor mask;  // [V, H] of the embedding
        if (scope == "row") mask = prune::row_unstructured(W, prune::Amount::fraction(sparsity));
        else if (scope == "matrix") mask = prune::l1_unstructured(W, prune::Amount::fraction(sparsity));
        else if (scope == "global") {
            std::vector<std::string> names = prune::bert_encoder_weights(bert.config.n_layers);
            names.push_back(emb_name);
            prune::PruneSpec spec;
            spec.global = true;
            spec.amount = prune::Amount::fraction(sparsity);
            prune::MaskSet ms = prune::decide_masks(prune::pick(mlm->named_parameters(), names), {}, spec);
            mask = *ms.find(emb_name);
        }
        double emb_sparsity = 0;
        if (mask.defined()) {  // only the embedding is pruned, so the cost below is the embedding's
            prune::MaskSet ms;
            ms.set(emb_name, mask);
            ms.apply(*mlm);
            emb_sparsity = 1.0 - density_of({{emb_name, W}}, ms);
        }
        ctx.note("bert-embedding " + p.id + ": evaluating");
        double mlm_acc = mlm_accuracy(*mlm, a);

        // Per-row statistics of the trained (unpruned) embedding, and what the mask removes.
        double sum = 0, sum_sq = 0;
        const float* w = orig.data();
        for (int64_t i = 0; i < V * H; i++) sum += w[i], sum_sq += double(w[i]) * w[i];
        double mean = sum / double(V * H), std = std::sqrt(std::max(0.0, sum_sq / double(V * H) - mean * mean));
        float thr = float(rel_threshold_ * std);
        auto rows = nn::row_stats(orig, thr);
        struct Acc {
            double n = 0, l2 = 0, nz = 0, log_count = 0, removed = 0, energy = 0, energy_removed = 0;
        };
        std::vector<Acc> acc(kBuckets.size());
        std::vector<double> lens, counts, nzs, l2s;
        for (int64_t v = 0; v < V; v++) {
            int64_t len = word_length(a.vocab.token(v));
            if (v < data::Vocab::kNumSpecial || len == 0) continue;
            Acc& b = acc[size_t(bucket_of(len))];
            const auto& rs = rows[size_t(v)];
            b.n += 1;
            b.l2 += rs.l2;
            b.nz += rs.near_zero;
            b.log_count += std::log10(double(std::max<int64_t>(1, a.vocab.count(v))));
            lens.push_back(double(len));
            counts.push_back(double(a.vocab.count(v)));
            nzs.push_back(rs.near_zero);
            l2s.push_back(rs.l2);
            for (int64_t j = 0; j < H; j++) {
                double e = double(w[v * H + j]) * w[v * H + j];
                b.energy += e;
                if (mask.defined() && mask.data()[v * H + j] == 0.0f) {
                    b.removed += 1;
                    b.energy_removed += e;
                }
            }
        }
        bool dense = scope == "dense";
        double rho_len_nz = dense ? spearman(lens, nzs) : NAN, rho_len_l2 = dense ? spearman(lens, l2s) : NAN;
        double rho_cnt_nz = dense ? spearman(counts, nzs) : NAN, rho_cnt_l2 = dense ? spearman(counts, l2s) : NAN;
        double rho_len_cnt = dense ? spearman(lens, counts) : NAN;
        Table t({"scope", "sparsity", "bucket", "n_words", "mean_l2", "mean_near_zero", "mean_log10_count", "removed",
                 "energy_removed", "emb_sparsity", "mlm_acc", "rho_len_near_zero", "rho_len_l2", "rho_count_near_zero",
                 "rho_count_l2", "rho_len_count"});
        for (size_t k = 0; k < kBuckets.size(); k++) {
            const Acc& b = acc[k];
            if (b.n == 0) continue;
            t.add({scope, p.at("sparsity"), kBuckets[k], fmt(b.n), fmt(b.l2 / b.n), fmt(b.nz / b.n), fmt(b.log_count / b.n),
                   fmt(b.removed / (b.n * double(H))), fmt(b.energy > 0 ? b.energy_removed / b.energy : NAN), fmt(emb_sparsity),
                   fmt(mlm_acc), fmt(rho_len_nz), fmt(rho_len_l2), fmt(rho_cnt_nz), fmt(rho_cnt_l2), fmt(rho_len_cnt)});
        }
        return t;
    }

    Section analyse(Context& ctx, const Table& r) override {
        const BertAssets& a = assets(ctx);
        Section s;
        s.setup = "The word embedding of the mini-BERT shared with bert-layers (" + a.recipe.describe() +
                  "; tied to the MLM decoder, so pruning it also prunes the output projection). Words only (tokens with a "
                  "letter; punctuation and special tokens left out), grouped by length in characters. Near zero: |w| < " +
                  fmt(rel_threshold_) + " x the std of the whole embedding. Three ways to prune the embedding one-shot by "
                  "|w|: per row (local: every word loses the same share of its vector), matrix (the embedding ranked on "
                  "its own, local to the layer) and global (one ranking with the encoder's Q/K/V/O and FFN matrices at "
                  "the given total; the embedding gets what the ranking gives it). Only the embedding's mask is applied, "
                  "so the masked-token accuracy (held-out test split) measures the embedding's cost.";
        Table dense = r.where({{"scope", "dense"}});
        std::vector<std::string> buckets = dense.distinct("bucket");
        std::vector<double> bx;
        for (auto& b : buckets) bx.push_back(b == "10+" ? 10.0 : std::stod(b));
        auto by_bucket = [&](const Table& t, const std::string& col) {
            std::vector<double> y;
            for (auto& b : buckets) {
                Table c = t.where({{"bucket", b}});
                y.push_back(c.empty() ? NAN : c.num(0, col));
            }
            return y;
        };
        {
            plot::Series nz{"near-zero fraction of the row", bx, by_bucket(dense, "mean_near_zero"), {}};
            plot::Axes ax;
            ax.title = "Embedding rows: near-zero fraction by word length";
            ax.xlabel = "word length (characters; 10 = 10 or more)";
            ax.ylabel = "mean near-zero fraction";
            ax.percent_y = true;
            s.figures.push_back({"near_zero_by_length.svg", "Mean near-zero fraction of a word's embedding row, by word length.",
                                 plot::line_chart(ax, {nz})});
            plot::Series l2{"L2 norm of the row", bx, by_bucket(dense, "mean_l2"), {}};
            plot::Axes ax2 = ax;
            ax2.title = "Embedding rows: L2 norm by word length";
            ax2.ylabel = "mean L2 norm";
            ax2.percent_y = false;
            s.figures.push_back({"norm_by_length.svg", "Mean L2 norm of a word's embedding row, by word length.",
                                 plot::line_chart(ax2, {l2})});
        }
        Table rows_t({"length", "words", "mean log10 count", "mean L2", "mean near-zero"});
        for (auto& b : buckets) {
            Table c = dense.where({{"bucket", b}});
            rows_t.add({b, fmt(c.num(0, "n_words")), fmt_fixed(c.num(0, "mean_log10_count"), 2), fmt_fixed(c.num(0, "mean_l2"), 3),
                        fmt_fixed(100 * c.num(0, "mean_near_zero"), 1) + " %"});
        }
        s.tables.push_back({"Embedding rows by word length (pretrained model).", rows_t});
        double rho_len_nz = dense.num(0, "rho_len_near_zero"), rho_len_l2 = dense.num(0, "rho_len_l2");
        double rho_cnt_nz = dense.num(0, "rho_count_near_zero"), rho_cnt_l2 = dense.num(0, "rho_count_l2");
        double rho_len_cnt = dense.num(0, "rho_len_count");

        // What each scope removes, by length, and the MLM cost.
        std::vector<std::string> totals;
        for (auto& x : r.distinct("sparsity"))
            if (x != "0") totals.push_back(x);
        const std::vector<std::string> scopes = {"row", "matrix", "global"};
        Table removed({"sparsity", "scope", "embedding sparsity", "MLM acc %", "removed: length <= 3", "length 4-6",
                       "length >= 7"});
        double dense_mlm = dense.num(0, "mlm_acc");
        removed.add({"0", "dense", "0 %", fmt_fixed(100 * dense_mlm, 2), "", "", ""});
        auto share = [&](const Table& t, int lo, int hi) {  // removed fraction over buckets [lo, hi] (1-based), word-weighted
            double n = 0, rm = 0;
            for (size_t i = 0; i < t.size(); i++) {
                std::string b = t.get(i, "bucket");
                int len = b == "10+" ? 10 : std::stoi(b);
                if (len < lo || len > hi) continue;
                n += t.num(i, "n_words");
                rm += t.num(i, "n_words") * t.num(i, "removed");
            }
            return n > 0 ? rm / n : NAN;
        };
        int passed = 0, total = 0;
        std::string evidence;
        std::vector<plot::Series> mlm_curves;
        for (auto& sc : scopes) {
            plot::Series c;
            c.label = sc;
            c.x.push_back(0);
            c.y.push_back(dense_mlm);
            mlm_curves.push_back(c);
        }
        for (auto& tot : totals) {
            for (size_t k = 0; k < scopes.size(); k++) {
                Table t = r.where({{"scope", scopes[k]}, {"sparsity", tot}});
                if (t.empty()) continue;
                double es = t.num(0, "emb_sparsity"), acc = t.num(0, "mlm_acc");
                removed.add({fmt(100 * std::stod(tot), 3) + " %", scopes[k], fmt_fixed(100 * es, 1) + " %", fmt_fixed(100 * acc, 2),
                             fmt_fixed(100 * share(t, 1, 3), 1) + " %", fmt_fixed(100 * share(t, 4, 6), 1) + " %",
                             fmt_fixed(100 * share(t, 7, 10), 1) + " %"});
                mlm_curves[k].x.push_back(es);
                mlm_curves[k].y.push_back(acc);
            }
            Table m = r.where({{"scope", "matrix"}, {"sparsity", tot}});
            if (!m.empty()) {
                double sh = share(m, 1, 3), lg = share(m, 7, 10);
                total++;
                passed += sh > lg;
                evidence += "; at " + fmt(100 * std::stod(tot), 3) + " % matrix pruning removes " + fmt_fixed(100 * sh, 1) +
                            " % of short-word (<= 3) weights vs " + fmt_fixed(100 * lg, 1) + " % of long-word (>= 7)";
            }
        }
        s.tables.push_back({"Share of each length group's embedding weights removed, and held-out masked-token accuracy.", removed});
        // Grouped bars: removed fraction by length at the middle sparsity.
        if (!totals.empty()) {
            const std::string mid = totals[totals.size() / 2];
            std::vector<plot::Series> bars;
            for (auto& sc : scopes) {
                plot::Series b;
                b.label = sc;
                b.y = by_bucket(r.where({{"scope", sc}, {"sparsity", mid}}), "removed");
                bars.push_back(b);
            }
            plot::Axes pb;
            pb.title = "Embedding weights removed by word length at " + fmt(100 * std::stod(mid), 3) + " %";
            pb.xlabel = "word length (characters)";
            pb.ylabel = "share of the group's weights removed";
            pb.percent_y = true;
            pb.y_min = 0;
            pb.y_max = 1;
            s.figures.push_back({"removed_by_length.svg", "What each way of pruning the embedding removes, by word length.",
                                 plot::grouped_bars(pb, buckets, bars)});
        }
        plot::Axes ma;
        ma.title = "Masked-token accuracy after pruning the embedding";
        ma.xlabel = "embedding sparsity";
        ma.ylabel = "held-out masked-token accuracy";
        ma.percent_x = ma.percent_y = true;
        s.figures.push_back({"mlm.svg", "Masked-token accuracy against the embedding's sparsity, by way of pruning.",
                             plot::line_chart(ma, mlm_curves)});

        // Verdict: (1) shorter words have sparser rows (Spearman rho(length, near-zero) < 0) and
        // (2) smaller norms (rho(length, L2) > 0); (3) matrix-local pruning removes a larger share of
        // short words' weights than long words' at every sparsity; (4) it is effective: at the lowest
        // sparsity, matrix pruning costs at most 2 points of masked-token accuracy.
        total += 2;
        passed += rho_len_nz < 0;
        passed += rho_len_l2 > 0;
        std::string cost;
        if (!totals.empty()) {
            Table m = r.where({{"scope", "matrix"}, {"sparsity", totals.front()}});
            if (!m.empty()) {
                double drop = dense_mlm - m.num(0, "mlm_acc");
                total++;
                passed += drop <= 0.02;
                cost = "; at " + fmt(100 * std::stod(totals.front()), 3) + " % matrix pruning costs " + fmt_fixed(100 * drop, 2) +
                       " points of masked-token accuracy";
            }
        }
        s.verdicts.push_back(
            {"C12",
             "Shorter words have sparser embedding vectors, so local pruning of the embedding removes mostly short words, "
             "and that is effective.",
             verdict_from(passed, total),
             "checks: (1) Spearman rho(word length, near-zero fraction of the row) < 0; (2) rho(word length, row L2 norm) "
             "> 0; (3) at every sparsity, pruning the embedding matrix on its own removes a larger share of the weights "
             "of words of <= 3 characters than of words of >= 7; (4) at the lowest sparsity that costs at most 2 points "
             "of masked-token accuracy. Per-row pruning removes the same share of every word by construction, so the "
             "claim is read for the layer-local ranking. Holds if all pass, partly if some do",
             std::to_string(passed) + " of " + std::to_string(total) + " checks pass: rho(length, near-zero) " +
                 fmt_fixed(rho_len_nz, 3) + ", rho(length, L2) " + fmt_fixed(rho_len_l2, 3) + evidence + cost});
        s.notes.push_back("Length and frequency are confounded: rho(length, training count) = " + fmt_fixed(rho_len_cnt, 3) +
                          ", and rho(count, near-zero) = " + fmt_fixed(rho_cnt_nz, 3) + ", rho(count, L2) = " +
                          fmt_fixed(rho_cnt_l2, 3) + ". Whatever the embedding encodes about length may come from how "
                          "often a word is seen (frequent words get more updates and weight decay).");
        return s;
    }

private:
    std::string sparsities_;
    float rel_threshold_ = 0.25f;
};

}  // namespace

std::unique_ptr<Experiment> make_bert_layers() { return std::make_unique<BertLayers>(); }
std::unique_ptr<Experiment> make_bert_embedding() { return std::make_unique<BertEmbedding>(); }

}  // namespace experiments
