// Fuzz target: text corpora and the tokenizer (data/text.hpp). The first byte picks the reader (the
// prepared Bible TSV, a labelled TSV, plain text, a vocabulary file); the rest is the file. Accepted
// corpora must hold only non-empty, valid UTF-8 texts whose labels are classes; their words then
// build a vocabulary that must survive to_text() and parse() unchanged, and every example must
// encode to [CLS] ... [SEP] within the length limit with ids inside the vocabulary.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "data/text.hpp"
#include "nn/check.hpp"
#include "targets.hpp"

namespace {

void check_vocab_round_trip(const data::Vocab& v) {
    data::Vocab again = data::Vocab::parse(v.to_text(), "<vocab round trip>");
    if (again.size() != v.size()) throw std::logic_error("text: vocabulary size changed in a to_text/parse round trip");
    for (int64_t i = 0; i < v.size(); i++)
        if (again.token(i) != v.token(i) || again.id(v.token(i)) != i)
            throw std::logic_error("text: vocabulary token changed in a to_text/parse round trip");
}

void check_corpus(const data::Corpus& c) {
    if (c.examples.empty()) throw std::logic_error("text: accepted a corpus without examples");
    std::vector<std::vector<std::string>> docs;
    for (auto& e : c.examples) {
        if (e.text.empty()) throw std::logic_error("text: accepted an empty example");
        int64_t replaced = 0;
        if (data::sanitize_utf8(e.text, &replaced) != e.text || replaced != 0)
            throw std::logic_error("text: an example is not valid UTF-8");
        if (!c.classes.empty() && (c.class_of(e) < 0 || c.class_of(e) >= int64_t(c.classes.size())))
            throw std::logic_error("text: an example's label is not a class");
        data::split_of(e.key);
        docs.push_back(data::split_words(e.text, data::TokenizerOptions{}));
        for (auto& w : docs.back())
            if (w.empty()) throw std::logic_error("text: the tokenizer produced an empty word");
    }
    data::Vocab vocab = data::Vocab::build(docs, 64, 1);
    check_vocab_round_trip(vocab);
    const int64_t max_len = 12;
    for (auto& words : docs) {
        std::vector<int32_t> ids = data::encode(words, vocab, max_len);
        if (ids.size() < 2 || int64_t(ids.size()) > max_len || ids.front() != data::Vocab::kCls ||
            ids.back() != data::Vocab::kSep)
            throw std::logic_error("text: an encoding is not [CLS] ... [SEP] within the length limit");
        for (int32_t id : ids)
            if (id < 0 || id >= vocab.size()) throw std::logic_error("text: an encoded id is outside the vocabulary");
    }
}

}  // namespace

int fuzz::text(const uint8_t* data, size_t n) {
    if (n == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, n - 1);
    try {
        switch (data[0] % 4) {
            case 0: check_corpus(data::parse_kjv_tsv(body, "<fuzz input>")); break;
            case 1: check_corpus(data::parse_labeled_tsv(body, "<fuzz input>")); break;
            case 2: check_corpus(data::parse_plain_text(body, "<fuzz input>")); break;
            default: check_vocab_round_trip(data::Vocab::parse(body, "<fuzz input>")); break;
        }
    } catch (const nn::Error&) {
    }
    return 0;
}

FUZZ_ENTRY(text)
