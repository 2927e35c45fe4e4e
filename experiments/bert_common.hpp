// Text-task pieces shared by the BERT commands (cli_bert.cpp) and the BERT experiments: the
// tokenizer stored in checkpoint metadata, the hash split of a corpus, MLM and classification
// datasets built with a model's vocabulary, and the held-out metrics (masked-token accuracy, genre
// accuracy) of a model.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "data/text.hpp"
#include "nn/safetensors.hpp"
#include "nn/trainer.hpp"
#include "nn/transformer.hpp"

namespace experiments {

// Checkpoint metadata keys of the tokenizer saved with a model.
inline constexpr const char* kVocabKey = "tokenizer.vocab";          // Vocab::to_text(): token<TAB>count per line
inline constexpr const char* kLowercaseKey = "tokenizer.lowercase";  // "true" or "false"
inline constexpr const char* kClassesKey = "classes";                // class names joined by '\n'

void put_tokenizer(std::map<std::string, std::string>& meta, const data::Vocab& vocab, const data::TokenizerOptions& opt);
// The vocabulary and options of a checkpoint written by `secateurs pretrain` / `finetune`.
data::Vocab read_tokenizer(const nn::st::File& f, const std::string& path, data::TokenizerOptions& opt);

struct TextSplits {
    data::Corpus train, val, test;
};
// The 80/10/10 hash split; errors when a part is empty. Prints the sizes when `verbose`.
TextSplits split_corpus(const data::Corpus& c, bool verbose = true);

std::vector<std::vector<std::string>> words_of(const data::Corpus& c, const data::TokenizerOptions& opt);
std::vector<int64_t> labels_of(const data::Corpus& c);

// MLM data of a corpus under `vocab` (labels dropped), sequences cut at `seq` tokens.
data::MlmDataset mlm_dataset(const data::Corpus& c, const data::Vocab& vocab, const data::TokenizerOptions& tok,
                             int64_t seq, float mask_prob = 0.15f);
data::TextClassDataset class_dataset(const data::Corpus& c, const data::Vocab& vocab, const data::TokenizerOptions& tok,
                                     int64_t seq);

// A batch of [batch, seq] random words (ids drawn uniformly past the special tokens, so no padding)
// with each position selected for prediction with probability 0.15, the selected words as labels:
// the input of speed measurements, where the text does not matter. Same seed, same batch.
struct MlmBatch {
    nn::IntTensor ids, positions, labels;  // [batch, seq], [selected] (flat b * seq + t), [selected]
};
MlmBatch random_mlm_batch(int64_t vocab_size, int64_t batch, int64_t seq, uint64_t seed);

// The BERT inside a task model (BertForMaskedLM or BertForSequenceClassification), or an error
// naming `what`.
nn::BertModel& bert_of(nn::Module& m, const std::string& what);

// Held-out metrics: masked-token accuracy and loss of an MLM model; accuracy of a classifier.
nn::EvalResult mlm_eval(nn::BertForMaskedLM& model, const data::MlmDataset& ds);
nn::EvalResult class_eval(nn::BertForSequenceClassification& model, const data::TextClassDataset& ds);

}  // namespace experiments
