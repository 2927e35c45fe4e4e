// Text data: UTF-8 clean-up, a word-level tokenizer, the vocabulary, corpus readers (the prepared
// King James Bible and fortunes TSVs, any labelled TSV, any plain-text file), the hash split, and
// the datasets that batch token ids for MLM pretraining (BERT's 15 % selection, 80/10/10 masking)
// and for sequence classification. Every reader also works on in-memory text (for tests and fuzzing).
// Not here: the models (nn/transformer.hpp) and their training objectives (nn/bert_tasks.hpp).
//
// The split rule: an example goes to test when hash64(key) % 10 == 0, to validation when it is 1,
// and to train otherwise (80/10/10), where hash64 is nn::hash64 with seed 0 and the key is the verse
// reference for the Bible ("Ge1:1", as printed by `bible`) and the text itself for other corpora
// (so duplicated lines never straddle two splits). It does not depend on position or order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/dataset.hpp"

namespace data {

// ---- UTF-8 ----
// Copies `in`, replacing every byte that does not start or continue a valid UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF are invalid) by U+FFFD; adds the number of
// replacements to *n_replaced.
std::string sanitize_utf8(std::string_view in, int64_t* n_replaced);

// ---- tokenizer ----
struct TokenizerOptions {
    bool lowercase = true;  // ASCII letters only; other characters are kept as they are
};
// Words split on ASCII whitespace; every ASCII punctuation character (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~)
// becomes a token of its own ("LORD's," -> "lord" "'" "s" ","). Input must be valid UTF-8.
std::vector<std::string> split_words(std::string_view text, const TokenizerOptions& opt);

// ---- vocabulary ----
// Special tokens first, with fixed ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4; then words by
// decreasing count (ties in byte order). Saved with a model as checkpoint metadata (to_metadata).
class Vocab {
public:
    static constexpr int64_t kPad = 0, kUnk = 1, kCls = 2, kSep = 3, kMask = 4, kNumSpecial = 5;

    // Words of `docs` (already split) with count >= min_count, at most max_size entries in total
    // (special tokens included).
    static Vocab build(const std::vector<std::vector<std::string>>& docs, int64_t max_size, int64_t min_count);
    // From the text of to_text(): one token per line, optionally "<TAB>count". Checks the special
    // tokens, duplicates and empty or blank tokens; `what` names the source in errors.
    static Vocab parse(std::string_view text, const std::string& what);
    std::string to_text() const;

    int64_t size() const { return int64_t(tokens_.size()); }
    int64_t id(const std::string& token) const;  // kUnk when absent
    const std::string& token(int64_t id) const;
    int64_t count(int64_t id) const { return counts_[size_t(id)]; }  // frequency when built (0 for specials)
    bool contains(const std::string& token) const;

private:
    void add(const std::string& token, int64_t count, const std::string& what);
    std::vector<std::string> tokens_;
    std::vector<int64_t> counts_;
    std::unordered_map<std::string, int64_t> index_;
};

// [CLS] w1 ... wn [SEP] truncated to max_len (>= 2) ids; unknown words map to [UNK].
std::vector<int32_t> encode(const std::vector<std::string>& words, const Vocab& vocab, int64_t max_len);

// ---- corpora ----
enum class Split { Train, Validation, Test };
Split split_of(std::string_view key);
const char* split_name(Split s);

struct TextExample {
    std::string key;    // what the split hashes (verse reference, or the text)
    std::string label;  // empty for unlabelled corpora
    std::string text;
};

struct Corpus {
    std::string name;
    std::vector<TextExample> examples;
    std::vector<std::string> classes;  // label names; an example's class id is its index here
    int64_t n_invalid_utf8 = 0;        // bytes replaced by U+FFFD
    int64_t n_empty_skipped = 0;       // empty lines (or empty text fields) skipped
    int64_t class_of(const TextExample& e) const;  // -1 when unlabelled
    Corpus subset(Split s) const;
};

// The eight book groups of the Bible, in canonical order (the classes of kjv-genre).
const std::vector<std::string>& kjv_genres();

// Parsers over in-memory text; `what` names the source (a path) in every error message.
// Prepared Bible: ref<TAB>book<TAB>genre<TAB>text per line, genre one of kjv_genres().
Corpus parse_kjv_tsv(std::string_view text, const std::string& what);
// label<TAB>text per line (the fortunes TSV, or any user TSV); classes sorted by name.
Corpus parse_labeled_tsv(std::string_view text, const std::string& what);
// One example per line, unlabelled.
Corpus parse_plain_text(std::string_view text, const std::string& what);

// "kjv" and "fortunes" read the prepared files in data_dir(); anything else is a path: *.tsv is read
// as label<TAB>text, other files as plain text. Missing prepared files say to run `make data`.
Corpus load_corpus(const std::string& name_or_path);

// ---- datasets ----
// Encoded sequences and (optionally) their class ids. length(i) lets the loader bucket by length.
struct EncodedText {
    std::vector<std::vector<int32_t>> ids;
    std::vector<int64_t> labels;  // empty for MLM
};
EncodedText encode_corpus(const Corpus& c, const Vocab& vocab, const TokenizerOptions& opt, int64_t max_len);

// MLM batches (Devlin et al. 2019, sec. 3.1): every non-special token is selected with probability
// mask_prob; a selected token becomes [MASK] with probability 0.8, a random word with 0.1, and stays
// with 0.1. Batch.ids [B, T] (T = the longest sequence of the batch, padded with [PAD]) holds the
// corrupted input, Batch.y [B*T] the original id at selected positions and kIgnore elsewhere. With a
// training rng the choice is drawn from it; without one (evaluation) it is a fixed function of the
// example index, so every evaluation scores the same positions. A batch always has a selected token.
class MlmDataset : public Dataset {
public:
    static constexpr int64_t kIgnore = -100;  // PyTorch's ignore_index (nn::kIgnoreIndex)
    MlmDataset(EncodedText text, int64_t vocab_size, float mask_prob = 0.15f);
    int64_t size() const override { return int64_t(text_.ids.size()); }
    int n_classes() const override { return int(vocab_size_); }
    int64_t length(int64_t i) const override { return int64_t(text_.ids[size_t(i)].size()); }
    void gather(const int64_t* idx, int64_t n, Batch& out, nn::Rng* rng) const override;
    int64_t n_tokens() const;  // all tokens, [CLS] and [SEP] included

private:
    EncodedText text_;
    int64_t vocab_size_;
    float mask_prob_;
};

// Classification batches: Batch.ids [B, T] padded to the longest, Batch.y [B] class ids.
class TextClassDataset : public Dataset {
public:
    TextClassDataset(EncodedText text, int n_classes);
    int64_t size() const override { return int64_t(text_.ids.size()); }
    int n_classes() const override { return n_classes_; }
    int64_t length(int64_t i) const override { return int64_t(text_.ids[size_t(i)].size()); }
    void gather(const int64_t* idx, int64_t n, Batch& out, nn::Rng* rng) const override;

private:
    EncodedText text_;
    int n_classes_;
};

}  // namespace data
