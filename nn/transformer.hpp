// The BERT family (Devlin et al. 2019): Embedding and LayerNorm layers, the post-LN encoder layer,
// the encoder, and the two task models — masked-language-model pretraining (decoder tied to the
// word embedding) and [CLS] sequence classification. Module and parameter names are those of
// Hugging Face's BertForMaskedLM / BertForSequenceClassification ("bert.encoder.layer.0.attention.
// self.query.weight", "cls.predictions.transform.dense.weight", ...), layouts are PyTorch's, so a
// state dict moves between the two unchanged (the tied decoder weight is stored once, as the word
// embedding, like safetensors files written by transformers).
// Heads: head h of a layer owns rows [h*D, (h+1)*D) of its query/key/value weights and columns
// [h*D, (h+1)*D) of attention.output.dense; layers may have different head counts and FFN widths
// (thinned models). Not here: tokenisation and data (data/text.hpp), training loops (nn/trainer.hpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/layers.hpp"
#include "nn/models.hpp"
#include "nn/module.hpp"

namespace nn {

// torch.nn.Embedding: weight [num, dim]; the padding_idx row (if >= 0) receives no gradient.
class Embedding : public Module {
public:
    Embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx, Rng& rng);  // N(0, 1), pad row 0
    Tensor forward_ids(const IntTensor& ids) const { return embedding(ids, weight, padding_idx); }
    int64_t padding_idx;
    Tensor weight;
};

// torch.nn.LayerNorm over the last dimension: weight ones, bias zeros.
class LayerNorm : public Module {
public:
    LayerNorm(int64_t dim, float eps);
    Tensor forward(const Tensor& x) override { return layer_norm(x, weight, bias, eps); }
    float eps;
    Tensor weight, bias;
};

struct BertConfig {
    int64_t vocab_size = 8192;
    int64_t hidden = 256;
    int64_t n_layers = 4;
    std::vector<int64_t> heads = {4, 4, 4, 4};               // per layer
    int64_t head_dim = 64;
    std::vector<int64_t> intermediate = {1024, 1024, 1024, 1024};  // FFN width per layer
    int64_t max_position = 64;
    int64_t type_vocab_size = 2;
    float hidden_dropout = 0.1f, attention_dropout = 0.1f;
    float layer_norm_eps = 1e-12f;
    float initializer_range = 0.02f;  // std of the normal initialisation (HF's init_weights)
    int64_t pad_id = 0;
    int64_t n_classes = 0;  // classification models only

    // From a model spec: vocab, hidden, layers, heads (one value or one per layer, joined by '-'),
    // head_dim (default hidden / heads), ffn (likewise), seq (max positions), classes, dropout,
    // attn_dropout. Checks every value.
    static BertConfig from_spec(const ModelSpec& spec);
    // The spec that rebuilds this configuration (stored as "arch" in checkpoints).
    ModelSpec to_spec(const std::string& name) const;
    void validate() const;
};

class BertEmbeddings : public Module {
public:
    BertEmbeddings(const BertConfig& c, Rng& rng);
    Tensor forward_ids(const IntTensor& ids);  // [B, T] -> [B, T, hidden]
    std::shared_ptr<Embedding> word_embeddings, position_embeddings, token_type_embeddings;
    std::shared_ptr<LayerNorm> norm;  // "LayerNorm"
    float dropout_p;
};

class BertSelfAttention : public Module {
public:
    BertSelfAttention(int64_t hidden, int64_t n_heads, int64_t head_dim, float dropout_p, Rng& rng);
    // x [B, T, hidden], key_mask [B, T] (1 attend, 0 padding; empty: none) -> context [B, T, heads*head_dim]
    Tensor forward_masked(const Tensor& x, const IntTensor& key_mask);
    // Per-head gate [n_heads] multiplying each head's output (undefined: all ones). Set it to zeros to
    // prune heads, or to a tensor with requires_grad to read head-importance gradients.
    void set_head_mask(const Tensor& mask);
    const Tensor& head_mask() const { return head_mask_; }
    std::shared_ptr<Linear> query, key, value;
    int64_t n_heads, head_dim;
    float dropout_p;

private:
    Tensor head_mask_;
};

// output.dense, output.LayerNorm of a sub-layer: LayerNorm(dropout(dense(x)) + residual).
class BertResidualOutput : public Module {
public:
    BertResidualOutput(const std::string& type_name, int64_t in, int64_t hidden, float eps, float dropout_p, Rng& rng);
    Tensor forward_residual(const Tensor& x, const Tensor& residual);
    std::shared_ptr<Linear> dense;
    std::shared_ptr<LayerNorm> norm;  // "LayerNorm"
    float dropout_p;
};

class BertAttention : public Module {
public:
    BertAttention(const BertConfig& c, int64_t n_heads, Rng& rng);
    std::shared_ptr<BertSelfAttention> self;     // "self"
    std::shared_ptr<BertResidualOutput> output;  // "output" (BertSelfOutput)
};

class BertIntermediate : public Module {
public:
    BertIntermediate(int64_t hidden, int64_t ffn, Rng& rng);
    Tensor forward(const Tensor& x) override { return gelu(dense->forward(x)); }
    std::shared_ptr<Linear> dense;
};

// One post-LN encoder layer: x = LN(x + Attn(x)); x = LN(x + W2 gelu(W1 x)).
class BertLayer : public Module {
public:
    BertLayer(const BertConfig& c, int64_t n_heads, int64_t ffn, Rng& rng);
    Tensor forward_masked(const Tensor& x, const IntTensor& key_mask);
    std::shared_ptr<BertAttention> attention;
    std::shared_ptr<BertIntermediate> intermediate;
    std::shared_ptr<BertResidualOutput> output;  // "output" (BertOutput)
};

class BertEncoder : public Module {
public:
    BertEncoder(const BertConfig& c, Rng& rng);
    std::shared_ptr<Sequential> layer;  // "layer.0", "layer.1", ... (children are BertLayer)
};

class BertPooler : public Module {
public:
    BertPooler(int64_t hidden, Rng& rng);
    Tensor forward(const Tensor& hidden) override;  // tanh(dense(hidden[:, 0])): [B, T, H] -> [B, H]
    std::shared_ptr<Linear> dense;
};

class BertModel : public Module {
public:
    BertModel(const BertConfig& c, bool with_pooler, Rng& rng);
    // ids [B, T] (T <= max_position; pad_id marks padding) -> hidden states [B, T, hidden]
    Tensor forward_ids(const IntTensor& ids);
    BertLayer& layer(int64_t i) const;
    BertConfig config;
    std::shared_ptr<BertEmbeddings> embeddings;
    std::shared_ptr<BertEncoder> encoder;
    std::shared_ptr<BertPooler> pooler;  // null without pooler
};

class BertPredictionHeadTransform : public Module {
public:
    BertPredictionHeadTransform(const BertConfig& c, Rng& rng);
    Tensor forward(const Tensor& x) override { return norm->forward(gelu(dense->forward(x))); }
    std::shared_ptr<Linear> dense;
    std::shared_ptr<LayerNorm> norm;  // "LayerNorm"
};

class BertLMPredictionHead : public Module {
public:
    BertLMPredictionHead(const BertConfig& c, const Tensor& tied_decoder_weight, Rng& rng);
    Tensor forward(const Tensor& x) override;  // [M, hidden] -> logits [M, vocab]
    std::shared_ptr<BertPredictionHeadTransform> transform;
    Tensor decoder_weight;  // the word embedding (not registered here: it is stored once)
    Tensor bias;
    // Another way to compute the projection logits = h decoder_weight^T + bias from the transformed
    // h, installed by a compiler pass (sparse::compile puts a CSR product here, as for nn::Linear);
    // null runs the dense product.
    std::shared_ptr<Module> executor;
};

class BertOnlyMLMHead : public Module {
public:
    BertOnlyMLMHead(const BertConfig& c, const Tensor& tied_decoder_weight, Rng& rng);
    std::shared_ptr<BertLMPredictionHead> predictions;
};

// BertForMaskedLM: bert (no pooler) + cls.predictions {transform.dense, transform.LayerNorm, bias};
// the decoder weight is bert.embeddings.word_embeddings.weight itself, so its gradient collects both
// the lookup's and the projection's contributions.
class BertForMaskedLM : public Module {
public:
    BertForMaskedLM(const BertConfig& c, Rng& rng);
    // Logits [M, vocab] at the flat positions (b * T + t) of ids [B, T]: the vocabulary projection is
    // computed only where a prediction is needed.
    Tensor forward_positions(const IntTensor& ids, const IntTensor& positions);
    std::shared_ptr<BertModel> bert;
    std::shared_ptr<BertOnlyMLMHead> cls;
};

// BertForSequenceClassification: bert (with pooler) + dropout + classifier on the pooled [CLS].
class BertForSequenceClassification : public Module {
public:
    BertForSequenceClassification(const BertConfig& c, Rng& rng);
    Tensor forward_ids(const IntTensor& ids);  // [B, T] -> logits [B, n_classes]
    std::shared_ptr<BertModel> bert;
    std::shared_ptr<Linear> classifier;
    float dropout_p;
};

// Key mask [B, T] of ids != pad_id, or an empty tensor when nothing is padding.
IntTensor padding_mask(const IntTensor& ids, int64_t pad_id);

// Model registry builders: "bert-mlm:..." and "bert-cls:..." (see BertConfig::from_spec).
std::shared_ptr<Module> build_bert_mlm(const ModelSpec& spec, Rng& rng);
std::shared_ptr<Module> build_bert_cls(const ModelSpec& spec, Rng& rng);

}  // namespace nn
