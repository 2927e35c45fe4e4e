#include "data/text.hpp"

#include <algorithm>
#include <unordered_set>

#include "nn/check.hpp"
#include "nn/io.hpp"

namespace data {

// ---- UTF-8 ----------------------------------------------------------------------------------------

std::string sanitize_utf8(std::string_view in, int64_t* n_replaced) {
    static const char kReplacement[] = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(in.size());
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const size_t n = in.size();
    size_t i = 0;
    int64_t replaced = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            out += char(c);
            i++;
            continue;
        }
        // Length and the allowed range of the second byte (Unicode 15, table 3-7).
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) len = 3;
        else if (c == 0xED) len = 3, hi = 0x9F;  // no surrogates
        else if (c >= 0xEE && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;  // no overlong forms
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;  // nothing above U+10FFFF
        // Accept the longest valid prefix; an invalid one ("maximal subpart") becomes one U+FFFD.
        size_t k = 1;
        if (len > 0) {
            while (k < len && i + k < n) {
                unsigned b = p[i + k];
                unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
                if (b < l || b > h) break;
                k++;
            }
        }
        if (len > 0 && k == len) {
            out.append(in.data() + i, len);
        } else {
            out += kReplacement;
            replaced++;
        }
        i += k;
    }
    if (n_replaced) *n_replaced += replaced;
    return out;
}

// ---- tokenizer ------------------------------------------------------------------------------------

namespace {

bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c < 0x20 || c == 0x7f; }
bool is_punct(unsigned char c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

}  // namespace

std::vector<std::string> split_words(std::string_view text, const TokenizerOptions& opt) {
    std::vector<std::string> words;
    std::string cur;
    auto flush = [&] {
        if (!cur.empty()) words.push_back(std::move(cur));
        cur.clear();
    };
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (is_space(c)) {
            flush();
        } else if (is_punct(c)) {
            flush();
            words.emplace_back(1, ch);
        } else {
            cur += (opt.lowercase && c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : ch;
        }
    }
    flush();
    return words;
}

// ---- vocabulary -----------------------------------------------------------------------------------

namespace {
const char* const kSpecialTokens[Vocab::kNumSpecial] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
}

void Vocab::add(const std::string& token, int64_t count, const std::string& what) {
    ENSURE(!token.empty(), what, ": empty token at id ", size());
    for (char c : token)
        ENSURE(!is_space(static_cast<unsigned char>(c)), what, ": token ", size(), " ('", token,
               "') contains whitespace or a control character");
    ENSURE(index_.emplace(token, size()).second, what, ": token '", token, "' appears twice (ids ", index_[token],
           " and ", size(), ")");
    tokens_.push_back(token);
    counts_.push_back(count);
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& docs, int64_t max_size, int64_t min_count) {
    ENSURE(max_size > kNumSpecial, "vocabulary size must exceed the ", kNumSpecial, " special tokens, got ", max_size);
    ENSURE(min_count >= 1, "minimum word count must be >= 1, got ", min_count);
    std::unordered_map<std::string, int64_t> counts;
    for (auto& d : docs)
        for (auto& w : d) counts[w]++;
    std::vector<std::pair<std::string, int64_t>> words;
    for (auto& [w, c] : counts)
        if (c >= min_count) words.emplace_back(w, c);
    std::sort(words.begin(), words.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    Vocab v;
    for (const char* s : kSpecialTokens) v.add(s, 0, "vocabulary");
    for (auto& [w, c] : words) {
        if (v.size() >= max_size) break;
        if (v.contains(w)) continue;  // a word spelled like a special token keeps the special id
        v.add(w, c, "vocabulary");
    }
    return v;
}

Vocab Vocab::parse(std::string_view text, const std::string& what) {
    Vocab v;
    size_t pos = 0;
    int64_t line_no = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        line_no++;
        size_t tab = line.find('\t');
        std::string token(line.substr(0, tab));
        int64_t count = 0;
        if (tab != std::string_view::npos) {
            std::string c(line.substr(tab + 1));
            size_t used = 0;
            try {
                count = std::stoll(c, &used);
            } catch (...) {
                used = 0;
            }
            ENSURE(used == c.size() && used > 0 && count >= 0, what, ": line ", line_no, ": count '", c,
                   "' is not a non-negative integer");
        }
        v.add(token, count, what + ": line " + std::to_string(line_no));
    }
    ENSURE(v.size() > kNumSpecial, what, ": a vocabulary needs the ", kNumSpecial, " special tokens and at least one word, got ",
           v.size(), " tokens");
    for (int64_t i = 0; i < kNumSpecial; i++)
        ENSURE(v.tokens_[size_t(i)] == kSpecialTokens[i], what, ": token ", i, " must be ", kSpecialTokens[i], ", got '",
               v.tokens_[size_t(i)], "'");
    return v;
}

std::string Vocab::to_text() const {
    std::string s;
    for (int64_t i = 0; i < size(); i++) {
        if (i) s += '\n';
        s += tokens_[size_t(i)];
        s += '\t';
        s += std::to_string(counts_[size_t(i)]);
    }
    return s;
}

int64_t Vocab::id(const std::string& token) const {
    auto it = index_.find(token);
    return it == index_.end() ? kUnk : it->second;
}

bool Vocab::contains(const std::string& token) const { return index_.count(token) > 0; }

const std::string& Vocab::token(int64_t id) const {
    ENSURE(id >= 0 && id < size(), "token id ", id, " is outside the vocabulary of ", size());
    return tokens_[size_t(id)];
}

std::vector<int32_t> encode(const std::vector<std::string>& words, const Vocab& vocab, int64_t max_len) {
    ENSURE(max_len >= 2, "maximum sequence length must be >= 2 ([CLS] and [SEP]), got ", max_len);
    std::vector<int32_t> ids;
    ids.reserve(std::min<size_t>(words.size() + 2, size_t(max_len)));
    ids.push_back(int32_t(Vocab::kCls));
    for (size_t i = 0; i < words.size() && int64_t(ids.size()) < max_len - 1; i++) ids.push_back(int32_t(vocab.id(words[i])));
    ids.push_back(int32_t(Vocab::kSep));
    return ids;
}

// ---- corpora --------------------------------------------------------------------------------------

Split split_of(std::string_view key) {
    uint64_t r = nn::hash64(key.data(), key.size(), 0) % 10;
    return r == 0 ? Split::Test : r == 1 ? Split::Validation : Split::Train;
}

const char* split_name(Split s) {
    switch (s) {
        case Split::Train: return "train";
        case Split::Validation: return "validation";
        case Split::Test: return "test";
    }
    return "?";
}

const std::vector<std::string>& kjv_genres() {
    static const std::vector<std::string> g = {"law",         "history",      "wisdom",  "major_prophets",
                                               "minor_prophets", "gospels_acts", "pauline", "general_revelation"};
    return g;
}

int64_t Corpus::class_of(const TextExample& e) const {
    if (e.label.empty()) return -1;
    auto it = std::find(classes.begin(), classes.end(), e.label);
    ENSURE(it != classes.end(), name, ": label '", e.label, "' is not one of the corpus's classes");
    return int64_t(it - classes.begin());
}

Corpus Corpus::subset(Split s) const {
    Corpus c;
    c.name = name + "[" + split_name(s) + "]";
    c.classes = classes;
    for (auto& e : examples)
        if (split_of(e.key) == s) c.examples.push_back(e);
    return c;
}

namespace {

// Calls fn(line_no, fields) for every non-blank line of `text` (already valid UTF-8) split on tabs;
// counts blank lines. A trailing '\r' (CRLF files) is dropped.
template <class Fn>
void for_each_line(std::string_view text, int64_t& n_blank, Fn fn) {
    size_t pos = 0;
    int64_t line_no = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        line_no++;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        bool blank = true;
        for (char c : line) blank = blank && is_space(static_cast<unsigned char>(c));
        if (blank) {
            n_blank++;
            continue;
        }
        std::vector<std::string_view> fields;
        size_t start = 0;
        for (;;) {
            size_t tab = line.find('\t', start);
            fields.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
            if (tab == std::string_view::npos) break;
            start = tab + 1;
        }
        fn(line_no, fields);
    }
}

std::string trimmed(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && is_space(static_cast<unsigned char>(s[b]))) b++;
    while (e > b && is_space(static_cast<unsigned char>(s[e - 1]))) e--;
    return std::string(s.substr(b, e - b));
}

std::string checked_text(std::string_view raw, const std::string& what, int64_t& n_invalid) {
    // gzip first: a compressed file nearly always holds NUL bytes too, and the advice differs.
    ENSURE(!(raw.size() >= 2 && uint8_t(raw[0]) == 0x1f && uint8_t(raw[1]) == 0x8b), what,
           ": is gzip-compressed; decompress it first (gunzip)");
    ENSURE(raw.find('\0') == std::string_view::npos, what, ": contains NUL bytes at offset ", raw.find('\0'),
           "; expected a text file (UTF-8, one example per line)");
    return sanitize_utf8(raw, &n_invalid);
}

}  // namespace

Corpus parse_kjv_tsv(std::string_view raw, const std::string& what) {
    Corpus c;
    c.name = what;
    c.classes = kjv_genres();
    std::string text = checked_text(raw, what, c.n_invalid_utf8);
    std::unordered_set<std::string> refs;
    for_each_line(text, c.n_empty_skipped, [&](int64_t line, const std::vector<std::string_view>& f) {
        ENSURE(f.size() == 4, what, ": line ", line, ": expected 4 tab-separated fields (ref, book, genre, text), found ",
               f.size());
        std::string ref = trimmed(f[0]), genre = trimmed(f[2]);
        ENSURE(!ref.empty(), what, ": line ", line, ": empty verse reference");
        ENSURE(std::find(c.classes.begin(), c.classes.end(), genre) != c.classes.end(), what, ": line ", line,
               ": unknown genre '", genre, "' (expected one of law, history, wisdom, major_prophets, minor_prophets, "
               "gospels_acts, pauline, general_revelation)");
        ENSURE(refs.insert(ref).second, what, ": line ", line, ": verse reference '", ref, "' appears twice");
        std::string body = trimmed(f[3]);
        if (body.empty()) {
            c.n_empty_skipped++;
            return;
        }
        c.examples.push_back({ref, genre, body});
    });
    ENSURE(!c.examples.empty(), what, ": no verses found");
    return c;
}

Corpus parse_labeled_tsv(std::string_view raw, const std::string& what) {
    Corpus c;
    c.name = what;
    std::string text = checked_text(raw, what, c.n_invalid_utf8);
    for_each_line(text, c.n_empty_skipped, [&](int64_t line, const std::vector<std::string_view>& f) {
        ENSURE(f.size() == 2, what, ": line ", line, ": expected 2 tab-separated fields (label, text), found ", f.size());
        std::string label = trimmed(f[0]), body = trimmed(f[1]);
        ENSURE(!label.empty(), what, ": line ", line, ": empty label");
        if (body.empty()) {
            c.n_empty_skipped++;
            return;
        }
        c.examples.push_back({body, label, body});
    });
    ENSURE(!c.examples.empty(), what, ": no examples found (expected lines of label<TAB>text)");
    std::unordered_set<std::string> seen;
    for (auto& e : c.examples)
        if (seen.insert(e.label).second) c.classes.push_back(e.label);
    std::sort(c.classes.begin(), c.classes.end());
    return c;
}

Corpus parse_plain_text(std::string_view raw, const std::string& what) {
    Corpus c;
    c.name = what;
    std::string text = checked_text(raw, what, c.n_invalid_utf8);
    for_each_line(text, c.n_empty_skipped, [&](int64_t, const std::vector<std::string_view>& f) {
        std::string body;
        for (size_t i = 0; i < f.size(); i++) {  // tabs are spaces here
            if (i) body += ' ';
            body += f[i];
        }
        body = trimmed(body);
        c.examples.push_back({body, "", body});
    });
    ENSURE(!c.examples.empty(), what, ": no text found (expected one example per line)");
    return c;
}

Corpus load_corpus(const std::string& name) {
    if (name == "kjv" || name == "fortunes") {
        std::string path = nn::io::join(nn::io::join(data_dir(), name), name + ".tsv");
        ENSURE(nn::io::exists(path), path, ": not found; run `make data` to prepare the ", name == "kjv" ? "King James Bible (Debian package bible-kjv)" : "fortunes (Debian package fortunes)",
               ", or set SECATEURS_DATA to the prepared data directory");
        std::string text = nn::io::read_text(path);
        return name == "kjv" ? parse_kjv_tsv(text, path) : parse_labeled_tsv(text, path);
    }
    ENSURE(nn::io::exists(name), name, ": no such corpus file (built-in corpora: kjv, fortunes)");
    std::string text = nn::io::read_text(name);
    bool tsv = name.size() >= 4 && name.compare(name.size() - 4, 4, ".tsv") == 0;
    return tsv ? parse_labeled_tsv(text, name) : parse_plain_text(text, name);
}

// ---- datasets -------------------------------------------------------------------------------------

EncodedText encode_corpus(const Corpus& c, const Vocab& vocab, const TokenizerOptions& opt, int64_t max_len) {
    EncodedText out;
    out.ids.reserve(c.examples.size());
    bool labelled = !c.classes.empty();
    for (auto& e : c.examples) {
        out.ids.push_back(encode(split_words(e.text, opt), vocab, max_len));
        if (labelled) out.labels.push_back(c.class_of(e));
    }
    return out;
}

namespace {

// ids [n, T] padded with [PAD], T the longest of the chosen sequences.
nn::IntTensor pad_batch(const std::vector<std::vector<int32_t>>& seqs, const int64_t* idx, int64_t n,
                        int64_t n_total) {
    int64_t T = 0;
    for (int64_t b = 0; b < n; b++) {
        ENSURE(idx[b] >= 0 && idx[b] < n_total, "text dataset: example index ", idx[b], " out of range (", n_total,
               " examples)");
        T = std::max<int64_t>(T, int64_t(seqs[size_t(idx[b])].size()));
    }
    nn::IntTensor ids(nn::Shape{n, T}, Vocab::kPad);
    for (int64_t b = 0; b < n; b++) {
        const auto& s = seqs[size_t(idx[b])];
        for (size_t t = 0; t < s.size(); t++) ids.values[size_t(b * T) + t] = s[t];
    }
    return ids;
}

}  // namespace

MlmDataset::MlmDataset(EncodedText text, int64_t vocab_size, float mask_prob)
    : text_(std::move(text)), vocab_size_(vocab_size), mask_prob_(mask_prob) {
    ENSURE(vocab_size > Vocab::kNumSpecial, "MLM: vocabulary of ", vocab_size, " has no words");
    ENSURE(mask_prob > 0.0f && mask_prob <= 1.0f, "MLM: mask probability must be in (0, 1], got ", mask_prob);
    ENSURE(!text_.ids.empty(), "MLM: no sequences");
}

int64_t MlmDataset::n_tokens() const {
    int64_t n = 0;
    for (auto& s : text_.ids) n += int64_t(s.size());
    return n;
}

void MlmDataset::gather(const int64_t* idx, int64_t n, Batch& out, nn::Rng* rng) const {
    out.x = nn::Tensor();
    out.ids = pad_batch(text_.ids, idx, n, size());
    const int64_t T = out.ids.shape[1];
    out.y = nn::IntTensor(nn::Shape{n * T}, kIgnore);
    int64_t n_selected = 0;
    for (int64_t b = 0; b < n; b++) {
        uint64_t key = uint64_t(idx[b]);
        nn::Rng fixed(nn::hash64(&key, sizeof key, 0x6d6c6d));  // evaluation: a function of the example
        nn::Rng& r = rng ? *rng : fixed;
        for (int64_t t = 0; t < T; t++) {
            int64_t& tok = out.ids.values[size_t(b * T + t)];
            if (tok < Vocab::kNumSpecial) continue;  // [PAD] [UNK] [CLS] [SEP] are never targets
            if (r.uniform() >= mask_prob_) continue;
            out.y.values[size_t(b * T + t)] = tok;
            n_selected++;
            float u = r.uniform();
            if (u < 0.8f) tok = Vocab::kMask;
            else if (u < 0.9f) tok = Vocab::kNumSpecial + int64_t(r.below(uint64_t(vocab_size_ - Vocab::kNumSpecial)));
        }
    }
    if (n_selected > 0) return;
    // Nothing drawn (tiny batches, or only unknown words): mask the first word of the batch, [UNK]
    // included, so that the loss is defined.
    for (int64_t i = 0; i < n * T; i++) {
        int64_t& tok = out.ids.values[size_t(i)];
        if (tok >= Vocab::kNumSpecial || tok == Vocab::kUnk) {
            out.y.values[size_t(i)] = tok;
            tok = Vocab::kMask;
            return;
        }
    }
    RAISE("MLM: the batch holds no word to predict (only [CLS], [SEP] and [PAD])");
}

TextClassDataset::TextClassDataset(EncodedText text, int n_classes) : text_(std::move(text)), n_classes_(n_classes) {
    ENSURE(text_.labels.size() == text_.ids.size(), "text classification: ", text_.labels.size(), " labels for ",
           text_.ids.size(), " sequences");
    ENSURE(!text_.ids.empty(), "text classification: no examples");
    for (int64_t l : text_.labels)
        ENSURE(l >= 0 && l < n_classes, "text classification: label ", l, " outside [0, ", n_classes, ")");
}

void TextClassDataset::gather(const int64_t* idx, int64_t n, Batch& out, nn::Rng*) const {
    out.x = nn::Tensor();
    out.ids = pad_batch(text_.ids, idx, n, size());
    out.y = nn::IntTensor(nn::Shape{n});
    for (int64_t b = 0; b < n; b++) out.y.values[size_t(b)] = text_.labels[size_t(idx[b])];
}

}  // namespace data
