// The BERT models: parameter names and shapes (HF conventions), the tied decoder, padding invariance,
// head masks, model specs, gradient checks of a whole tiny encoder, overfitting one MLM batch, and
// weight statistics.
#include <cmath>
#include <filesystem>

#include "data/text.hpp"
#include "helpers.hpp"
#include "subprocess.hpp"
#include "nn/bert_tasks.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "nn/safetensors.hpp"
#include "nn/weight_stats.hpp"
#include "prune/pruner.hpp"

using nn::IntTensor;
using nn::Shape;
using nn::Tensor;

namespace {

nn::BertConfig tiny_config() {
    nn::BertConfig c;
    c.vocab_size = 23;
    c.hidden = 8;
    c.n_layers = 2;
    c.heads = {2, 2};
    c.head_dim = 4;
    c.intermediate = {12, 12};
    c.max_position = 9;
    c.hidden_dropout = c.attention_dropout = 0.0f;
    c.layer_norm_eps = 1e-5f;
    return c;
}

IntTensor ids_of(std::vector<int64_t> v, int64_t B) { return IntTensor::from_vector(v, Shape{B, int64_t(v.size()) / B}); }

// view *= f, in place (the view may be strided).
void scale_(const Tensor& view, float f) {
    std::vector<float> v = view.contiguous().to_vector();
    for (float& x : v) x *= f;
    view.copy_(Tensor::from_vector(v, view.shape()));
}

}  // namespace

TEST_CASE("BERT parameter names and shapes follow Hugging Face", "[bert]") {
    nn::Rng rng(1);
    nn::BertConfig c = tiny_config();
    nn::BertForMaskedLM mlm(c, rng);
    std::map<std::string, Shape> want = {
        {"bert.embeddings.word_embeddings.weight", {23, 8}},
        {"bert.embeddings.position_embeddings.weight", {9, 8}},
        {"bert.embeddings.token_type_embeddings.weight", {2, 8}},
        {"bert.embeddings.LayerNorm.weight", {8}},
        {"bert.encoder.layer.0.attention.self.query.weight", {8, 8}},
        {"bert.encoder.layer.0.attention.self.key.bias", {8}},
        {"bert.encoder.layer.0.attention.output.dense.weight", {8, 8}},
        {"bert.encoder.layer.0.attention.output.LayerNorm.bias", {8}},
        {"bert.encoder.layer.1.intermediate.dense.weight", {12, 8}},
        {"bert.encoder.layer.1.output.dense.weight", {8, 12}},
        {"bert.encoder.layer.1.output.LayerNorm.weight", {8}},
        {"cls.predictions.transform.dense.weight", {8, 8}},
        {"cls.predictions.transform.LayerNorm.weight", {8}},
        {"cls.predictions.bias", {23}},
    };
    auto params = mlm.named_parameters();
    std::map<std::string, Shape> got;
    for (auto& [n, t] : params) got[n] = t.shape();
    for (auto& [n, s] : want) {
        INFO(n);
        REQUIRE(got.count(n) == 1);
        REQUIRE(got[n] == s);
    }
    // 5 embedding tensors + 2 layers x 16 + 5 head tensors; the tied decoder weight is stored once
    REQUIRE(params.size() == 5 + 2 * 16 + 5);
    REQUIRE(mlm.cls->predictions->decoder_weight.same(mlm.bert->embeddings->word_embeddings->weight));
    // HF's init: padding row zero, LayerNorm ones, biases zero
    for (float v : mlm.bert->embeddings->word_embeddings->weight.narrow(0, 0, 1).contiguous().to_vector()) REQUIRE(v == 0.0f);
    REQUIRE(mlm.bert->layer(1).output->norm->weight.to_vector() == std::vector<float>(8, 1.0f));

    c.n_classes = 3;
    nn::BertForSequenceClassification cls(c, rng);
    auto cp = cls.named_parameters();
    bool has_pooler = false, has_classifier = false;
    for (auto& [n, t] : cp) {
        has_pooler = has_pooler || n == "bert.pooler.dense.weight";
        has_classifier = has_classifier || (n == "classifier.weight" && t.shape() == Shape{3, 8});
    }
    REQUIRE(has_pooler);
    REQUIRE(has_classifier);
}

TEST_CASE("BERT specs round-trip and bad specs are rejected", "[bert]") {
    nn::BertConfig c = nn::BertConfig::from_spec(nn::ModelSpec::parse("bert-mlm:vocab=100,hidden=16,layers=3,heads=4-2-1,ffn=32-8-4,seq=12"));
    REQUIRE(c.heads == std::vector<int64_t>{4, 2, 1});
    REQUIRE(c.head_dim == 4);
    REQUIRE(c.intermediate == std::vector<int64_t>{32, 8, 4});
    nn::BertConfig again = nn::BertConfig::from_spec(c.to_spec("bert-mlm"));
    REQUIRE(again.heads == c.heads);
    REQUIRE(again.intermediate == c.intermediate);
    REQUIRE(again.vocab_size == 100);
    auto net = nn::make_model(c.to_spec("bert-mlm").str(), 3);
    auto& mlm = dynamic_cast<nn::BertForMaskedLM&>(*net);
    REQUIRE(mlm.bert->layer(1).attention->self->query->weight.shape() == Shape{8, 16});  // 2 heads of 4
    REQUIRE(mlm.bert->layer(1).attention->output->dense->weight.shape() == Shape{16, 8});
    for (const char* bad : {"bert-mlm:hidden=10,heads=4", "bert-mlm:layers=2,heads=4-4-4", "bert-mlm:colour=red",
                            "bert-mlm:dropout=1.5", "bert-mlm:vocab=0", "bert-cls:vocab=50"})
        REQUIRE_THROWS_AS(nn::make_model(bad, 1), nn::Error);
}

TEST_CASE("BERT: padding does not change the real tokens' outputs", "[bert]") {
    nn::Rng rng(2);
    nn::BertForMaskedLM m(tiny_config(), rng);
    m.eval();
    nn::NoGradGuard ng;
    Tensor short_h = m.bert->forward_ids(ids_of({2, 7, 9, 11, 3}, 1));
    Tensor padded_h = m.bert->forward_ids(ids_of({2, 7, 9, 11, 3, 0, 0, 0}, 1));
    testing::require_close(padded_h.narrow(1, 0, 5).contiguous().to_vector(), short_h.to_vector(), 1e-5f, 1e-4f,
                           "hidden states with and without padding");
    // and a batch row does not depend on its neighbours
    Tensor batch_h = m.bert->forward_ids(ids_of({2, 7, 9, 11, 3, 0, 0, 0, 2, 5, 5, 5, 5, 5, 5, 3}, 2));
    testing::require_close(batch_h.narrow(0, 0, 1).narrow(1, 0, 5).contiguous().to_vector(), short_h.to_vector(), 1e-5f,
                           1e-4f, "batched");
    REQUIRE_THROWS_AS(m.bert->forward_ids(ids_of({2, 23, 3}, 1)), nn::Error);                  // id outside vocab
    REQUIRE_THROWS_AS(m.bert->forward_ids(IntTensor(Shape{1, 10}, 5)), nn::Error);             // longer than seq
}

TEST_CASE("BERT: a zero head mask removes the head; its gradient is the head's importance", "[bert]") {
    nn::Rng rng(3);
    nn::BertForMaskedLM m(tiny_config(), rng);
    m.eval();
    IntTensor ids = ids_of({2, 7, 9, 11, 3, 2, 5, 6, 3, 0}, 2);
    auto& self = *m.bert->layer(0).attention->self;
    Tensor gate = Tensor::from_vector({1.0f, 1.0f}, {2}).requires_grad_();
    self.set_head_mask(gate);
    Tensor base = m.bert->forward_ids(ids);
    nn::sum(nn::mul(base, testing::randn(base.shape(), 4))).backward();
    REQUIRE(gate.grad().defined());
    REQUIRE(std::fabs(gate.grad().at({0})) > 0.0f);
    // zeroing head 1 = zeroing its value rows and its output columns
    self.set_head_mask(Tensor::from_vector({1.0f, 0.0f}, {2}));
    Tensor masked = m.bert->forward_ids(ids).detach();
    self.set_head_mask(Tensor());
    {
        nn::NoGradGuard ng;
        self.value->weight.narrow(0, 4, 4).zero_();
        self.value->bias.narrow(0, 4, 4).zero_();
    }
    Tensor zeroed = m.bert->forward_ids(ids).detach();
    testing::require_close(masked.to_vector(), zeroed.to_vector(), 1e-5f, 1e-4f, "head mask vs zeroed weights");
    REQUIRE_THROWS_AS(self.set_head_mask(Tensor::ones({3})), nn::Error);
}

TEST_CASE("gradcheck: every parameter of a tiny BERT, tied decoder and padding included", "[bert][gradcheck]") {
    nn::Rng rng(5);
    nn::BertConfig c = tiny_config();
    c.hidden = 4;
    c.heads = {2, 1};
    c.head_dim = 2;
    c.intermediate = {6, 5};
    c.vocab_size = 9;
    nn::BertForMaskedLM m(c, rng);
    m.eval();
    IntTensor ids = ids_of({2, 7, 5, 3, 2, 8, 3, 0}, 2);
    IntTensor pos = IntTensor::from_vector({1, 2, 5}, {3});
    // Central differences on every parameter tensor against autograd (the tied word embedding
    // collects the lookup's and the decoder's contributions).
    const float kEps = 3e-3f;
    auto loss_of = [&] { return nn::sum(nn::mul(m.forward_positions(ids, pos), testing::randn({3, 9}, 77))); };
    m.zero_grad();
    loss_of().backward();
    for (auto& [name, p] : m.named_parameters()) {
        INFO(name);
        REQUIRE(p.grad().defined());
        std::vector<float> analytic = p.grad().to_vector(), numeric(size_t(p.numel()));
        for (int64_t i = 0; i < p.numel(); i++) {
            nn::NoGradGuard ng;
            float orig = p.data()[i];
            p.data()[i] = orig + kEps;
            double up = loss_of().item();
            p.data()[i] = orig - kEps;
            double down = loss_of().item();
            p.data()[i] = orig;
            numeric[size_t(i)] = float((up - down) / (2.0 * kEps));
        }
        testing::require_close(analytic, numeric, 3e-3f, 3e-2f, name);
    }
    // (The [PAD] row still gets the tied decoder's gradient, as in PyTorch: padding_idx only stops the
    // lookup's contribution, which the embedding test checks.)
}

TEST_CASE("MLM overfits one batch", "[bert][overfit]") {
    nn::Rng rng(7);
    nn::BertConfig c = tiny_config();
    c.vocab_size = 40;
    c.hidden = 32;
    c.heads = {4, 4};
    c.head_dim = 8;
    c.intermediate = {64, 64};
    c.max_position = 16;
    nn::manual_seed(1);
    nn::BertForMaskedLM m(c, rng);
    // 8 sequences of random words with 3 selected positions each (as data::MlmDataset marks them)
    const int64_t B = 8, T = 12;
    IntTensor ids(Shape{B, T}), targets(Shape{B * T}, nn::kIgnoreIndex);
    nn::Rng r(3);
    for (int64_t b = 0; b < B; b++) {
        int64_t len = 6 + b % 6;
        for (int64_t t = 0; t < T; t++) {
            int64_t& v = ids.values[size_t(b * T + t)];
            v = t == 0 ? data::Vocab::kCls : t == len - 1 ? data::Vocab::kSep : t >= len ? data::Vocab::kPad
                                                                                    : 5 + int64_t(r.below(35));
        }
        for (int64_t k = 1; k <= 3; k++) {
            int64_t t = k * (len - 1) / 4;
            targets.values[size_t(b * T + t)] = ids.values[size_t(b * T + t)];
            ids.values[size_t(b * T + t)] = data::Vocab::kMask;
        }
    }
    data::Batch batch;
    batch.ids = ids;
    batch.y = targets;
    nn::LossFn loss_fn = nn::mlm_loss(m);
    nn::AdamOptions o;
    o.lr = 3e-3f;
    o.decoupled = true;
    nn::Adam opt(m.named_parameters(), o);
    float first = 0, last = 0;
    for (int step = 0; step < 150; step++) {
        opt.zero_grad();
        nn::StepOutput out = loss_fn(m, batch);
        if (step == 0) first = out.loss.item();
        last = out.loss.item();
        out.loss.backward();
        opt.step();
    }
    m.eval();
    nn::NoGradGuard ng;
    nn::StepOutput out = loss_fn(m, batch);
    INFO("loss " << first << " -> " << last);
    REQUIRE(out.n_counted == 24);
    REQUIRE(out.n_correct == 24);
    REQUIRE(out.loss.item() < 0.05f);
}

TEST_CASE("weight statistics: near-zero fractions, rows and head norms", "[bert]") {
    Tensor w = Tensor::from_vector({0.0f, 0.005f, -0.02f, 0.5f, 0.0f, 0.0f, 1.0f, -0.001f}, {2, 4});
    nn::TensorStats s = nn::tensor_stats("w", w, 0.01f, 0.0f);
    REQUIRE(s.numel == 8);
    REQUIRE(s.n_zero == 3);
    REQUIRE(s.near_zero == Approx(5.0 / 8));  // 0, 0.005, 0, 0, -0.001
    REQUIRE(s.max_abs == Approx(1.0));
    auto rows = nn::row_stats(w, 0.01f);
    REQUIRE(rows.size() == 2);
    REQUIRE(rows[0].l1 == Approx(0.525));
    REQUIRE(rows[1].l2 == Approx(std::sqrt(1.0 + 1e-6)));
    REQUIRE(rows[1].near_zero == Approx(0.75));
    REQUIRE(rows[0].n_zero == 1);

    nn::Rng rng(9);
    nn::BertForMaskedLM m(tiny_config(), rng);
    {
        nn::NoGradGuard ng;
        auto& a = *m.bert->layer(1).attention->self;
        for (auto* lin : {a.query.get(), a.key.get(), a.value.get()}) lin->weight.narrow(0, 0, 4).zero_();
        m.bert->layer(1).attention->output->dense->weight.narrow(1, 0, 4).zero_();
    }
    auto heads = nn::head_weight_norms(*m.bert);
    REQUIRE(heads.size() == 4);
    REQUIRE(heads[2].layer == 1);
    REQUIRE(heads[2].head == 0);
    REQUIRE(heads[2].total == 0.0);
    REQUIRE(heads[3].total > 0.0);
    REQUIRE(heads[0].query > 0.0);
    auto stats = nn::weight_stats(m, 0.01f, 0.1f);
    for (auto& t : stats) REQUIRE(t.shape.size() >= 2);
    REQUIRE_THROWS_AS(nn::row_stats(Tensor::zeros({3}), 0.1f), nn::Error);
}

namespace {

// A small in-memory corpus: short "verses" over 30 words, split by hash like the real ones.
data::MlmDataset tiny_mlm_dataset(const data::Vocab& vocab, data::Split split, const data::Corpus& corpus) {
    data::TokenizerOptions tok;
    data::EncodedText e = data::encode_corpus(corpus.subset(split), vocab, tok, 16);
    e.labels.clear();
    return data::MlmDataset(std::move(e), vocab.size());
}

data::Corpus tiny_corpus() {
    std::string text;
    nn::Rng r(11);
    for (int i = 0; i < 240; i++) {
        text += 'v';
        text += std::to_string(i);
        int len = 3 + int(r.below(9));
        for (int w = 0; w < len; w++) {
            text += " w";
            text += std::to_string(r.below(30));
        }
        text += "\n";
    }
    return data::parse_plain_text(text, "tiny");
}

std::vector<float> all_weights(const nn::Module& m) {
    std::vector<float> out;
    for (auto& [n, t] : m.state_dict()) {
        auto v = t.to_vector();
        out.insert(out.end(), v.begin(), v.end());
    }
    return out;
}

}  // namespace

TEST_CASE("MLM training through nn::Trainer learns and resumes bit-identically", "[bert][resume]") {
    data::Corpus corpus = tiny_corpus();
    data::TokenizerOptions tok;
    std::vector<std::vector<std::string>> docs;
    for (auto& e : corpus.subset(data::Split::Train).examples) docs.push_back(data::split_words(e.text, tok));
    data::Vocab vocab = data::Vocab::build(docs, 100, 1);
    data::MlmDataset train = tiny_mlm_dataset(vocab, data::Split::Train, corpus),
                     val = tiny_mlm_dataset(vocab, data::Split::Validation, corpus);
    std::string spec = "bert-mlm:vocab=" + std::to_string(vocab.size()) + ",hidden=16,layers=2,heads=2,ffn=32,seq=16";
    nn::TrainConfig cfg;
    cfg.optimizer = "adamw";
    cfg.lr = 3e-3f;
    cfg.schedule = "warmup-linear";
    cfg.warmup_fraction = 0.1f;
    cfg.clip_grad_norm = 1.0f;
    cfg.batch_size = 16;
    cfg.epochs = 3;
    cfg.bucket_batches = 4;
    cfg.progress = false;
    auto run = [&](const std::string& dir, int crash_at, bool resume) {
        nn::manual_seed(5);
        auto net = nn::make_model(spec, resume ? 999 : 5);
        cfg.out_dir = dir;
        cfg.checkpoint_every = 7;
        nn::Trainer t(*net, cfg, train, &val);
        t.loss_fn = nn::mlm_loss(dynamic_cast<nn::BertForMaskedLM&>(*net));
        if (crash_at > 0)
            t.after_step = [crash_at](int64_t step) {
                if (step == crash_at) throw std::runtime_error("simulated crash");
            };
        if (resume) REQUIRE(t.resume());
        nn::TrainResult r = t.fit();
        return std::make_pair(all_weights(*net), r);
    };
    std::filesystem::remove_all("test-mlm-full");
    std::filesystem::remove_all("test-mlm-part");
    auto [full, result] = run("test-mlm-full", 0, false);
    REQUIRE(result.final_val.n > 0);
    // every word is one of 30 random ones: above chance (1/30) after three short epochs
    REQUIRE(result.history.back().train_loss < result.history.front().train_loss + 1e-9);
    REQUIRE_THROWS_WITH(run("test-mlm-part", 9, false), "simulated crash");
    auto [resumed, unused] = run("test-mlm-part", 0, true);
    testing::require_equal(resumed, full, "weights after resume");
    std::filesystem::remove_all("test-mlm-full");
    std::filesystem::remove_all("test-mlm-part");
}

TEST_CASE("pruning BERT: coupled attention heads chosen by weight norm equal a zero head gate", "[bert][prune]") {
    nn::Rng rng(11);
    nn::BertForMaskedLM m(tiny_config(), rng);
    m.eval();
    auto params = m.named_parameters();
    auto blocks = prune::bert_attention_blocks(m.bert->config.heads);
    REQUIRE(blocks.size() == 2);
    REQUIRE(blocks[1].rows.size() == 6);
    REQUIRE(blocks[1].cols == std::vector<std::string>{"bert.encoder.layer.1.attention.output.dense.weight"});
    // Make head 1 of layer 0 and head 0 of layer 1 the weakest by norm (scaled down 10x).
    {
        nn::NoGradGuard ng;
        for (auto& [layer, head] : std::vector<std::pair<int, int>>{{0, 1}, {1, 0}}) {
            auto& at = *m.bert->layer(layer).attention;
            for (auto* lin : {at.self->query.get(), at.self->key.get(), at.self->value.get()}) {
                scale_(lin->weight.narrow(0, head * 4, 4), 0.1f);
                scale_(lin->bias.narrow(0, head * 4, 4), 0.1f);
            }
            scale_(at.output->dense->weight.narrow(1, head * 4, 4), 0.1f);
        }
    }
    auto norms = nn::head_weight_norms(*m.bert);
    REQUIRE(norms[1].total < norms[0].total);
    REQUIRE(norms[2].total < norms[3].total);
    prune::PruneSpec spec;
    spec.amount = prune::Amount::count(1);  // one head per layer
    prune::MaskSet masks = prune::decide_targets(prune::attention_head_targets(blocks), params, {}, spec);
    REQUIRE(masks.size() == 14);  // q, k, v weight + bias and the output weight, in two layers
    const Tensor& q0 = *masks.find("bert.encoder.layer.0.attention.self.query.weight");  // [8, 8]
    for (int64_t r = 0; r < 8; r++) REQUIRE(q0.at({r, 0}) == (r >= 4 ? 0.0f : 1.0f));
    const Tensor& o1 = *masks.find("bert.encoder.layer.1.attention.output.dense.weight");
    for (int64_t c = 0; c < 8; c++) REQUIRE(o1.at({0, c}) == (c < 4 ? 0.0f : 1.0f));
    const Tensor& vb1 = *masks.find("bert.encoder.layer.1.attention.self.value.bias");
    REQUIRE(vb1.at({0}) == 0.0f);
    REQUIRE(vb1.at({7}) == 1.0f);

    IntTensor ids = ids_of({2, 7, 9, 11, 3, 2, 5, 6, 3, 0}, 2);
    m.bert->layer(0).attention->self->set_head_mask(Tensor::from_vector({1.0f, 0.0f}, {2}));
    m.bert->layer(1).attention->self->set_head_mask(Tensor::from_vector({0.0f, 1.0f}, {2}));
    Tensor gated = m.bert->forward_ids(ids).detach();
    m.bert->layer(0).attention->self->set_head_mask(Tensor());
    m.bert->layer(1).attention->self->set_head_mask(Tensor());
    // The output projection's bias is not a head's, so it stays: masked weights equal gated heads.
    masks.apply(m);
    Tensor pruned = m.bert->forward_ids(ids).detach();
    testing::require_close(pruned.to_vector(), gated.to_vector(), 1e-5f, 1e-4f, "pruned heads vs head gate");
    REQUIRE_THROWS_AS(prune::decide_targets(prune::attention_head_targets(prune::bert_attention_blocks({2, 2}, "nope.")),
                                            params, {}, spec),
                      nn::Error);
}

TEST_CASE("pruning BERT: unstructured local and global over Q/K/V/O and FFN, per-row embedding", "[bert][prune]") {
    nn::Rng rng(12);
    nn::BertForMaskedLM m(tiny_config(), rng);
    auto names = prune::bert_encoder_weights(2);
    REQUIRE(names.size() == 12);
    REQUIRE(names[5] == "bert.encoder.layer.0.output.dense.weight");
    auto weights = prune::pick(m.named_parameters(), names);  // errors if a name is missing
    {
        nn::NoGradGuard ng;
        scale_(m.bert->layer(1).intermediate->dense->weight, 10.0f);  // a layer of large weights
    }
    prune::PruneSpec spec;
    spec.amount = prune::Amount::fraction(0.5);
    prune::MaskSet local = prune::decide_masks(weights, {}, spec);
    for (auto& n : names) REQUIRE(local.n_kept({n}) * 2 == local.n_total({n}));
    spec.global = true;
    prune::MaskSet global = prune::decide_masks(weights, {}, spec);
    REQUIRE(global.n_kept() * 2 == global.n_total());
    // Under one global ranking the large layer keeps almost everything, the others lose more than half.
    REQUIRE(global.n_kept({"bert.encoder.layer.1.intermediate.dense.weight"}) >= 80);
    REQUIRE(global.n_kept({"bert.encoder.layer.0.attention.self.query.weight"}) < 32);

    // Per-row: every row keeps the same count whatever its scale; golden row by hand.
    Tensor w = Tensor::from_vector({0.1f, -0.4f, 0.3f, 0.2f, 5.0f, -7.0f, 1.0f, 2.0f}, {2, 4});
    Tensor rm = prune::row_unstructured(w, prune::Amount::fraction(0.5));
    REQUIRE(rm.to_vector() == std::vector<float>{0, 1, 1, 0, 1, 1, 0, 0});
    // a second step prunes among the survivors of each row
    Tensor rm2 = prune::row_unstructured(w, prune::Amount::count(1), rm);
    REQUIRE(rm2.to_vector() == std::vector<float>{0, 1, 0, 0, 0, 1, 0, 0});
    Tensor emb_mask = prune::row_unstructured(m.bert->embeddings->word_embeddings->weight, prune::Amount::fraction(0.25));
    for (int64_t r = 0; r < 23; r++) {
        int kept = 0;
        for (int64_t c = 0; c < 8; c++) kept += emb_mask.at({r, c}) != 0.0f;
        REQUIRE(kept == 6);
    }
    REQUIRE_THROWS_AS(prune::row_unstructured(Tensor::ones({4}), prune::Amount::fraction(0.5)), nn::Error);
    REQUIRE_THROWS_AS(prune::row_unstructured(w, prune::Amount::fraction(0.5), Tensor::ones({4, 2})), nn::Error);
    REQUIRE_THROWS_AS(prune::row_unstructured(w, prune::Amount::count(5)), nn::Error);
}

namespace {
// The number after `key` in `text` (-1 when absent).
double number_after(const std::string& text, const std::string& key) {
    size_t at = text.find(key);
    return at == std::string::npos ? -1.0 : std::atof(text.c_str() + at + key.size());
}
}  // namespace

TEST_CASE("secateurs eval on BERT checkpoints: the metric pretrain / finetune report, sparse files too", "[bert][cli]") {
    const std::string dir = "test-bert-eval";
    std::filesystem::remove_all(dir);
    nn::io::make_dirs(dir);
    auto path = [&](const std::string& name) { return nn::io::join(dir, name); };
    std::string text, tsv;
    for (int i = 0; i < 120; i++) {
        text += "the " + std::string(i % 3 ? "cat sat on the mat " : "dog ran in the park ") + std::to_string(i % 7) + "\n";
        tsv += std::string(i % 2 ? "pets\tthe cat sat " : "parks\tthe dog ran ") + std::to_string(i) + "\n";
    }
    nn::io::write_text_atomic(path("corpus.txt"), text);
    nn::io::write_text_atomic(path("task.tsv"), tsv);
    const std::string small = "--layers 1 --hidden 16 --heads 2 --ffn 32 --seq 16 --batch-size 8 --max-steps 3";
    std::string out, log;
    REQUIRE(testing::run_secateurs("pretrain --corpus " + path("corpus.txt") + " --min-count 1 " + small + " --out " +
                                       path("mlm"), out) == 0);
    INFO(out);
    const double pretrain_acc = number_after(out, "masked-token accuracy ");
    REQUIRE(pretrain_acc >= 0);
    const std::string mlm = path("mlm/model.safetensors");
    REQUIRE(testing::run_secateurs({"eval", "--ckpt", mlm}, out) == 0);
    INFO(out);
    REQUIRE(out.find("masked-token accuracy on " + path("corpus.txt") + "/test") != std::string::npos);
    REQUIRE(number_after(out, "masks fixed): ") == Approx(pretrain_acc).margin(0.006));

    // Pruned, then stored sparse: the sparse file runs on sparse kernels and scores as the pruned one.
    const std::string pruned = path("pruned.safetensors"), sparse_file = path("sparse.safetensors");
    REQUIRE(testing::run_secateurs({"prune", "--in", mlm, "--out", pruned, "--method", "l1_unstructured", "--amount",
                                    "0.8", "--params", "bert.encoder.layer.*.weight", "--ignore", "*LayerNorm*"},
                                   out) == 0);
    REQUIRE(testing::run_secateurs({"sparsify", "--in", pruned, "--out", sparse_file}, out) == 0);
    std::string a, b;
    REQUIRE(testing::run_secateurs({"eval", "--ckpt", pruned, "--split", "val"}, a) == 0);
    REQUIRE(testing::run_secateurs({"eval", "--ckpt", sparse_file, "--split", "val"}, b) == 0);
    INFO(a << "\n" << b);
    REQUIRE(b.find("sparse (density") != std::string::npos);
    REQUIRE(number_after(a, "masks fixed): ") == Approx(number_after(b, "masks fixed): ")).margin(0.006));
    REQUIRE(number_after(a, "(loss ") == Approx(number_after(b, "(loss ")).epsilon(1e-4));

    // The classifier: its task comes from the file.
    REQUIRE(testing::run_secateurs("finetune --task " + path("task.tsv") + " --ckpt " + mlm +
                                       " --batch-size 8 --max-steps 3 --out " + path("cls"), out) == 0);
    INFO(out);
    size_t at = out.find("accuracy ", out.find("test (held-out "));
    REQUIRE(at != std::string::npos);
    const double cls_acc = std::atof(out.c_str() + at + 9);
    REQUIRE(testing::run_secateurs({"eval", "--ckpt", path("cls/model.safetensors")}, out) == 0);
    INFO(out);
    REQUIRE(number_after(out, "examples): ") == Approx(cls_acc).margin(0.006));

    // Errors name the file and the problem.
    REQUIRE(testing::run_secateurs({"eval", "--ckpt", mlm, "--split", "dev"}, log) == 1);
    REQUIRE(log.find("--split must be train, val or test") != std::string::npos);
    {
        nn::st::File f = nn::st::File::read(mlm);
        f.metadata.erase("corpus");
        f.write(path("nocorpus.safetensors"));
    }
    REQUIRE(testing::run_secateurs({"eval", "--ckpt", path("nocorpus.safetensors")}, log) == 1);
    REQUIRE(log.find(path("nocorpus.safetensors") + ": no \"corpus\" metadata") != std::string::npos);
    std::filesystem::remove_all(dir);
}
