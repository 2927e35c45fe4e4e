#include "experiments/bert_common.hpp"

#include <cstdio>

#include "nn/bert_tasks.hpp"
#include "nn/check.hpp"
#include "nn/rng.hpp"

namespace experiments {

void put_tokenizer(std::map<std::string, std::string>& meta, const data::Vocab& vocab, const data::TokenizerOptions& opt) {
    meta[kVocabKey] = vocab.to_text();
    meta[kLowercaseKey] = opt.lowercase ? "true" : "false";
}

data::Vocab read_tokenizer(const nn::st::File& f, const std::string& path, data::TokenizerOptions& opt) {
    auto v = f.metadata.find(kVocabKey), l = f.metadata.find(kLowercaseKey);
    ENSURE(v != f.metadata.end() && l != f.metadata.end(), path, ": no tokenizer in the metadata (", kVocabKey, ", ",
           kLowercaseKey, "); was it written by `secateurs pretrain`?");
    ENSURE(l->second == "true" || l->second == "false", path, ": ", kLowercaseKey, " must be true or false, got '",
           l->second, "'");
    opt.lowercase = l->second == "true";
    return data::Vocab::parse(v->second, path + " (metadata " + kVocabKey + ")");
}

TextSplits split_corpus(const data::Corpus& c, bool verbose) {
    TextSplits s{c.subset(data::Split::Train), c.subset(data::Split::Validation), c.subset(data::Split::Test)};
    if (verbose)
        std::printf("split by hash of the %s: train %zu, validation %zu, test %zu\n",
                    c.name.find("kjv") != std::string::npos ? "verse reference" : "text", s.train.examples.size(),
                    s.val.examples.size(), s.test.examples.size());
    ENSURE(!s.train.examples.empty() && !s.val.examples.empty() && !s.test.examples.empty(), c.name,
           ": too small to split into train, validation and test (", c.examples.size(), " examples)");
    return s;
}

std::vector<std::vector<std::string>> words_of(const data::Corpus& c, const data::TokenizerOptions& opt) {
    std::vector<std::vector<std::string>> docs;
    docs.reserve(c.examples.size());
    for (auto& e : c.examples) docs.push_back(data::split_words(e.text, opt));
    return docs;
}

std::vector<int64_t> labels_of(const data::Corpus& c) {
    std::vector<int64_t> l;
    for (auto& e : c.examples) l.push_back(c.class_of(e));
    return l;
}

data::MlmDataset mlm_dataset(const data::Corpus& c, const data::Vocab& vocab, const data::TokenizerOptions& tok,
                             int64_t seq, float mask_prob) {
    data::EncodedText e = data::encode_corpus(c, vocab, tok, seq);
    e.labels.clear();
    return data::MlmDataset(std::move(e), vocab.size(), mask_prob);
}

data::TextClassDataset class_dataset(const data::Corpus& c, const data::Vocab& vocab, const data::TokenizerOptions& tok,
                                     int64_t seq) {
    return data::TextClassDataset(data::encode_corpus(c, vocab, tok, seq), int(c.classes.size()));
}

MlmBatch random_mlm_batch(int64_t vocab_size, int64_t batch, int64_t seq, uint64_t seed) {
    constexpr int64_t first = data::Vocab::kNumSpecial;
    ENSURE(vocab_size > first, "random_mlm_batch: a vocabulary of ", vocab_size, " has no words");
    nn::Rng rng(seed);
    MlmBatch b;
    b.ids = nn::IntTensor(nn::Shape{batch, seq});
    std::vector<int64_t> positions, labels;
    for (int64_t i = 0; i < batch * seq; i++) {
        b.ids.values[size_t(i)] = first + int64_t(rng.below(uint64_t(vocab_size - first)));
        if (rng.uniform() < 0.15f) {
            positions.push_back(i);
            labels.push_back(b.ids.values[size_t(i)]);
        }
    }
    const int64_t m = int64_t(positions.size());
    b.positions = nn::IntTensor::from_vector(std::move(positions), nn::Shape{m});
    b.labels = nn::IntTensor::from_vector(std::move(labels), nn::Shape{m});
    return b;
}

nn::BertModel& bert_of(nn::Module& m, const std::string& what) {
    if (auto* x = dynamic_cast<nn::BertForMaskedLM*>(&m)) return *x->bert;
    if (auto* x = dynamic_cast<nn::BertForSequenceClassification*>(&m)) return *x->bert;
    RAISE(what, ": not a BERT model (bert-mlm or bert-cls)");
}

nn::EvalResult mlm_eval(nn::BertForMaskedLM& model, const data::MlmDataset& ds) {
    return nn::evaluate(model, ds, 128, nn::mlm_loss(model), 50);
}

nn::EvalResult class_eval(nn::BertForSequenceClassification& model, const data::TextClassDataset& ds) {
    return nn::evaluate(model, ds, 128, nn::sequence_classification_loss(model), 50);
}

}  // namespace experiments
