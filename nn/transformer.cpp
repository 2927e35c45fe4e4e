#include "nn/transformer.hpp"

#include <cstdio>

#include "nn/check.hpp"
#include "nn/init.hpp"

namespace nn {

Embedding::Embedding(int64_t num, int64_t dim, int64_t pad, Rng& rng) : Module("Embedding"), padding_idx(pad) {
    ENSURE(num > 0 && dim > 0, "Embedding(", num, ", ", dim, "): sizes must be positive");
    ENSURE(pad < num, "Embedding: padding_idx ", pad, " is outside [0, ", num, ")");
    weight = register_parameter("weight", Tensor::empty({num, dim}));
    init::normal_(weight, 0.0f, 1.0f, rng);
    NoGradGuard no_grad;
    if (pad >= 0) weight.narrow(0, pad, 1).zero_();
}

LayerNorm::LayerNorm(int64_t dim, float eps_) : Module("LayerNorm"), eps(eps_) {
    ENSURE(dim > 0 && eps_ > 0.0f, "LayerNorm(", dim, ", eps=", eps_, "): size and eps must be positive");
    weight = register_parameter("weight", Tensor::ones({dim}));
    bias = register_parameter("bias", Tensor::zeros({dim}));
}

// ---- configuration ------------------------------------------------------------------------------

namespace {

std::vector<int64_t> per_layer(const ModelSpec& spec, const std::string& key, int64_t n_layers, int64_t fallback) {
    std::vector<int64_t> v = spec.ints(key, {fallback});
    if (v.size() == 1) v.assign(size_t(n_layers), v[0]);
    ENSURE(int64_t(v.size()) == n_layers, "model spec '", spec.str(), "': option ", key, " lists ", v.size(),
           " values for ", n_layers, " layers");
    return v;
}

int64_t one_int(const ModelSpec& spec, const std::string& key, int64_t fallback) {
    std::vector<int64_t> v = spec.ints(key, {fallback});
    ENSURE(v.size() == 1, "model spec '", spec.str(), "': option ", key, " takes one value");
    return v[0];
}

std::string join_ints(const std::vector<int64_t>& v) {
    bool uniform = true;
    for (int64_t x : v) uniform = uniform && x == v[0];
    if (uniform && !v.empty()) return std::to_string(v[0]);
    std::string s;
    for (size_t i = 0; i < v.size(); i++) {
        if (i) s += '-';
        s += std::to_string(v[i]);
    }
    return s;
}

std::string fmt_float(float f) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", double(f));
    return buf;
}

// HF's BertPreTrainedModel._init_weights: Linear and Embedding weights N(0, std), biases 0, padding
// rows 0, LayerNorm weight 1 and bias 0.
void bert_init(Module& m, float std, Rng& rng) {
    NoGradGuard no_grad;
    for (auto& [name, mod] : m.named_modules()) {
        if (auto* lin = dynamic_cast<Linear*>(mod)) {
            init::normal_(lin->weight, 0.0f, std, rng);
            if (lin->bias.defined()) lin->bias.zero_();
        } else if (auto* emb = dynamic_cast<Embedding*>(mod)) {
            init::normal_(emb->weight, 0.0f, std, rng);
            if (emb->padding_idx >= 0) emb->weight.narrow(0, emb->padding_idx, 1).zero_();
        } else if (auto* ln = dynamic_cast<LayerNorm*>(mod)) {
            ln->weight.fill_(1.0f);
            ln->bias.zero_();
        }
    }
}

}  // namespace

BertConfig BertConfig::from_spec(const ModelSpec& spec) {
    static const char* known[] = {"vocab", "hidden", "layers", "heads", "head_dim", "ffn", "seq", "classes",
                                  "dropout", "attn_dropout"};
    for (auto& [k, v] : spec.options) {
        bool ok = false;
        for (const char* n : known) ok = ok || k == n;
        ENSURE(ok, "model spec '", spec.str(), "': unknown option '", k,
               "' (known: vocab, hidden, layers, heads, head_dim, ffn, seq, classes, dropout, attn_dropout)");
    }
    BertConfig c;
    c.vocab_size = one_int(spec, "vocab", c.vocab_size);
    c.hidden = one_int(spec, "hidden", c.hidden);
    c.n_layers = one_int(spec, "layers", c.n_layers);
    c.heads = per_layer(spec, "heads", c.n_layers, 4);
    c.head_dim = spec.options.count("head_dim") ? one_int(spec, "head_dim", 1) : c.hidden / c.heads[0];
    c.intermediate = per_layer(spec, "ffn", c.n_layers, 4 * c.hidden);
    c.max_position = one_int(spec, "seq", c.max_position);
    c.n_classes = spec.options.count("classes") ? one_int(spec, "classes", 1) : 0;
    c.hidden_dropout = float(spec.number("dropout", c.hidden_dropout));
    c.attention_dropout = float(spec.number("attn_dropout", c.attention_dropout));
    ENSURE(spec.options.count("head_dim") || c.head_dim * c.heads[0] == c.hidden, "model spec '", spec.str(),
           "': hidden ", c.hidden, " is not divisible into ", c.heads[0], " heads (give head_dim explicitly)");
    c.validate();
    return c;
}

ModelSpec BertConfig::to_spec(const std::string& name) const {
    ModelSpec s;
    s.name = name;
    s.options["vocab"] = std::to_string(vocab_size);
    s.options["hidden"] = std::to_string(hidden);
    s.options["layers"] = std::to_string(n_layers);
    s.options["heads"] = join_ints(heads);
    s.options["head_dim"] = std::to_string(head_dim);
    s.options["ffn"] = join_ints(intermediate);
    s.options["seq"] = std::to_string(max_position);
    s.options["dropout"] = fmt_float(hidden_dropout);
    s.options["attn_dropout"] = fmt_float(attention_dropout);
    if (n_classes > 0) s.options["classes"] = std::to_string(n_classes);
    return s;
}

void BertConfig::validate() const {
    ENSURE(vocab_size > 0 && hidden > 0 && n_layers > 0 && head_dim > 0 && max_position > 0 && type_vocab_size > 0,
           "BERT config: sizes must be positive (vocab ", vocab_size, ", hidden ", hidden, ", layers ", n_layers,
           ", head_dim ", head_dim, ", seq ", max_position, ")");
    ENSURE(int64_t(heads.size()) == n_layers && int64_t(intermediate.size()) == n_layers, "BERT config: ",
           heads.size(), " head counts and ", intermediate.size(), " FFN widths for ", n_layers, " layers");
    for (int64_t l = 0; l < n_layers; l++)
        ENSURE(heads[size_t(l)] > 0 && intermediate[size_t(l)] > 0, "BERT config: layer ", l, " has ",
               heads[size_t(l)], " heads and FFN width ", intermediate[size_t(l)], "; both must be positive");
    ENSURE(pad_id >= 0 && pad_id < vocab_size, "BERT config: pad id ", pad_id, " outside the vocabulary of ", vocab_size);
    ENSURE(hidden_dropout >= 0.0f && hidden_dropout < 1.0f && attention_dropout >= 0.0f && attention_dropout < 1.0f,
           "BERT config: dropout probabilities must be in [0, 1), got ", hidden_dropout, " and ", attention_dropout);
    ENSURE(n_classes >= 0, "BERT config: negative class count ", n_classes);
}

// ---- layers -------------------------------------------------------------------------------------

IntTensor padding_mask(const IntTensor& ids, int64_t pad_id) {
    bool any = false;
    for (int64_t v : ids.values) any = any || v == pad_id;
    if (!any) return IntTensor();
    IntTensor m(ids.shape);
    for (int64_t i = 0; i < ids.numel(); i++) m.values[size_t(i)] = ids[i] != pad_id;
    return m;
}

BertEmbeddings::BertEmbeddings(const BertConfig& c, Rng& rng) : Module("BertEmbeddings"), dropout_p(c.hidden_dropout) {
    word_embeddings = register_module("word_embeddings", std::make_shared<Embedding>(c.vocab_size, c.hidden, c.pad_id, rng));
    position_embeddings = register_module("position_embeddings", std::make_shared<Embedding>(c.max_position, c.hidden, -1, rng));
    token_type_embeddings =
        register_module("token_type_embeddings", std::make_shared<Embedding>(c.type_vocab_size, c.hidden, -1, rng));
    norm = register_module("LayerNorm", std::make_shared<LayerNorm>(c.hidden, c.layer_norm_eps));
}

Tensor BertEmbeddings::forward_ids(const IntTensor& ids) {
    ENSURE(ids.shape.size() == 2, "BERT: token ids must be [batch, length], got ", ids.shape);
    int64_t T = ids.shape[1], P = position_embeddings->weight.size(0);
    ENSURE(T <= P, "BERT: sequence length ", T, " exceeds the model's ", P, " positions");
    // Single-segment inputs: every token has type 0, whose embedding is one row added everywhere.
    Tensor x = word_embeddings->forward_ids(ids);
    x = add(x, position_embeddings->weight.narrow(0, 0, T));
    x = add(x, token_type_embeddings->weight.narrow(0, 0, 1));
    return dropout(norm->forward(x), dropout_p, training());
}

BertSelfAttention::BertSelfAttention(int64_t hidden, int64_t heads, int64_t dim, float p, Rng& rng)
    : Module("BertSelfAttention"), n_heads(heads), head_dim(dim), dropout_p(p) {
    query = register_module("query", std::make_shared<Linear>(hidden, heads * dim, true, rng));
    key = register_module("key", std::make_shared<Linear>(hidden, heads * dim, true, rng));
    value = register_module("value", std::make_shared<Linear>(hidden, heads * dim, true, rng));
}

void BertSelfAttention::set_head_mask(const Tensor& mask) {
    ENSURE(!mask.defined() || (mask.ndim() == 1 && mask.size(0) == n_heads), "head mask ", mask.shape(),
           " does not match the layer's ", n_heads, " heads");
    head_mask_ = mask;
}

Tensor BertSelfAttention::forward_masked(const Tensor& x, const IntTensor& key_mask) {
    return attention(query->forward(x), key->forward(x), value->forward(x), n_heads, key_mask, head_mask_, dropout_p,
                     training());
}

BertResidualOutput::BertResidualOutput(const std::string& type_name, int64_t in, int64_t hidden, float eps, float p,
                                       Rng& rng)
    : Module(type_name), dropout_p(p) {
    dense = register_module("dense", std::make_shared<Linear>(in, hidden, true, rng));
    norm = register_module("LayerNorm", std::make_shared<LayerNorm>(hidden, eps));
}

Tensor BertResidualOutput::forward_residual(const Tensor& x, const Tensor& residual) {
    return norm->forward(add(dropout(dense->forward(x), dropout_p, training()), residual));
}

BertAttention::BertAttention(const BertConfig& c, int64_t heads, Rng& rng) : Module("BertAttention") {
    self = register_module("self", std::make_shared<BertSelfAttention>(c.hidden, heads, c.head_dim, c.attention_dropout, rng));
    output = register_module("output", std::make_shared<BertResidualOutput>("BertSelfOutput", heads * c.head_dim, c.hidden,
                                                                             c.layer_norm_eps, c.hidden_dropout, rng));
}

BertIntermediate::BertIntermediate(int64_t hidden, int64_t ffn, Rng& rng) : Module("BertIntermediate") {
    dense = register_module("dense", std::make_shared<Linear>(hidden, ffn, true, rng));
}

BertLayer::BertLayer(const BertConfig& c, int64_t heads, int64_t ffn, Rng& rng) : Module("BertLayer") {
    attention = register_module("attention", std::make_shared<BertAttention>(c, heads, rng));
    intermediate = register_module("intermediate", std::make_shared<BertIntermediate>(c.hidden, ffn, rng));
    output = register_module("output", std::make_shared<BertResidualOutput>("BertOutput", ffn, c.hidden, c.layer_norm_eps,
                                                                             c.hidden_dropout, rng));
}

Tensor BertLayer::forward_masked(const Tensor& x, const IntTensor& key_mask) {
    Tensor a = attention->output->forward_residual(attention->self->forward_masked(x, key_mask), x);
    return output->forward_residual(intermediate->forward(a), a);
}

BertEncoder::BertEncoder(const BertConfig& c, Rng& rng) : Module("BertEncoder") {
    layer = register_module("layer", std::make_shared<Sequential>());
    for (int64_t l = 0; l < c.n_layers; l++)
        layer->add(std::make_shared<BertLayer>(c, c.heads[size_t(l)], c.intermediate[size_t(l)], rng));
}

BertPooler::BertPooler(int64_t hidden, Rng& rng) : Module("BertPooler") {
    dense = register_module("dense", std::make_shared<Linear>(hidden, hidden, true, rng));
}

Tensor BertPooler::forward(const Tensor& hidden) {
    ENSURE(hidden.ndim() == 3, "BertPooler: expects [B, T, H], got ", hidden.shape());
    int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
    IntTensor first(Shape{B});
    for (int64_t b = 0; b < B; b++) first.values[size_t(b)] = b * T;  // the [CLS] position of each sequence
    return tanh(dense->forward(index_rows(hidden.reshape({B * T, H}), first)));
}

BertModel::BertModel(const BertConfig& c, bool with_pooler, Rng& rng) : Module("BertModel"), config(c) {
    c.validate();
    embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(c, rng));
    encoder = register_module("encoder", std::make_shared<BertEncoder>(c, rng));
    if (with_pooler) pooler = register_module("pooler", std::make_shared<BertPooler>(c.hidden, rng));
}

BertLayer& BertModel::layer(int64_t i) const {
    ENSURE(i >= 0 && i < int64_t(encoder->layer->size()), "BERT: no layer ", i, " (", encoder->layer->size(), " layers)");
    return static_cast<BertLayer&>(encoder->layer->at(size_t(i)));
}

Tensor BertModel::forward_ids(const IntTensor& ids) {
    for (int64_t v : ids.values)
        ENSURE(v >= 0 && v < config.vocab_size, "BERT: token id ", v, " is outside the vocabulary of ", config.vocab_size);
    IntTensor key_mask = padding_mask(ids, config.pad_id);
    Tensor h = embeddings->forward_ids(ids);
    for (size_t l = 0; l < encoder->layer->size(); l++) h = layer(int64_t(l)).forward_masked(h, key_mask);
    return h;
}

BertPredictionHeadTransform::BertPredictionHeadTransform(const BertConfig& c, Rng& rng)
    : Module("BertPredictionHeadTransform") {
    dense = register_module("dense", std::make_shared<Linear>(c.hidden, c.hidden, true, rng));
    norm = register_module("LayerNorm", std::make_shared<LayerNorm>(c.hidden, c.layer_norm_eps));
}

BertLMPredictionHead::BertLMPredictionHead(const BertConfig& c, const Tensor& tied, Rng& rng)
    : Module("BertLMPredictionHead"), decoder_weight(tied) {
    transform = register_module("transform", std::make_shared<BertPredictionHeadTransform>(c, rng));
    bias = register_parameter("bias", Tensor::zeros({c.vocab_size}));
}

Tensor BertLMPredictionHead::forward(const Tensor& x) {
    Tensor h = transform->forward(x);
    return executor ? executor->forward(h) : linear(h, decoder_weight, bias);
}

BertOnlyMLMHead::BertOnlyMLMHead(const BertConfig& c, const Tensor& tied, Rng& rng) : Module("BertOnlyMLMHead") {
    predictions = register_module("predictions", std::make_shared<BertLMPredictionHead>(c, tied, rng));
}

BertForMaskedLM::BertForMaskedLM(const BertConfig& c, Rng& rng) : Module("BertForMaskedLM") {
    bert = register_module("bert", std::make_shared<BertModel>(c, false, rng));
    cls = register_module("cls", std::make_shared<BertOnlyMLMHead>(c, bert->embeddings->word_embeddings->weight, rng));
    bert_init(*this, c.initializer_range, rng);
}

Tensor BertForMaskedLM::forward_positions(const IntTensor& ids, const IntTensor& positions) {
    Tensor h = bert->forward_ids(ids);
    int64_t H = h.size(-1);
    return cls->predictions->forward(index_rows(h.reshape({-1, H}), positions));
}

BertForSequenceClassification::BertForSequenceClassification(const BertConfig& c, Rng& rng)
    : Module("BertForSequenceClassification"), dropout_p(c.hidden_dropout) {
    ENSURE(c.n_classes > 0, "BERT classifier: the number of classes must be positive (option classes=N)");
    bert = register_module("bert", std::make_shared<BertModel>(c, true, rng));
    classifier = register_module("classifier", std::make_shared<Linear>(c.hidden, c.n_classes, true, rng));
    bert_init(*this, c.initializer_range, rng);
}

Tensor BertForSequenceClassification::forward_ids(const IntTensor& ids) {
    Tensor pooled = bert->pooler->forward(bert->forward_ids(ids));
    return classifier->forward(dropout(pooled, dropout_p, training()));
}

std::shared_ptr<Module> build_bert_mlm(const ModelSpec& spec, Rng& rng) {
    return std::make_shared<BertForMaskedLM>(BertConfig::from_spec(spec), rng);
}

std::shared_ptr<Module> build_bert_cls(const ModelSpec& spec, Rng& rng) {
    return std::make_shared<BertForSequenceClassification>(BertConfig::from_spec(spec), rng);
}

}  // namespace nn
