#include "nn/json.hpp"

#include <cstdio>
#include <cstdlib>
#include <set>

#include "nn/check.hpp"

namespace nn::json {

namespace {

constexpr int kMaxDepth = 64;

class Parser {
public:
    Parser(std::string_view s, const std::string& what) : s_(s), what_(what) {}

    Value document() {
        skip_ws();
        Value v = value(0);
        skip_ws();
        if (pos_ != s_.size()) error("unexpected data after the top-level value");
        return v;
    }

private:
    [[noreturn]] void error(const std::string& why) {
        RAISE(what_, ": invalid JSON at byte ", pos_, ": ", why);
    }

    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) pos_++;
    }

    char peek() {
        if (pos_ >= s_.size()) error("unexpected end of input");
        return s_[pos_];
    }

    void expect(char c) {
        if (peek() != c) error(std::string("expected '") + c + "'");
        pos_++;
    }

    void literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) error("invalid literal");
        pos_ += word.size();
    }

    Value value(int depth) {
        if (depth > kMaxDepth) error("nesting deeper than 64 levels");
        Value v;
        char c = peek();
        if (c == '{') {
            v.type = Value::Type::Object;
            pos_++;
            skip_ws();
            std::set<std::string> keys;
            if (peek() == '}') {
                pos_++;
                return v;
            }
            for (;;) {
                skip_ws();
                if (peek() != '"') error("object keys must be strings");
                std::string key = string();
                if (!keys.insert(key).second) error("duplicate key \"" + key + "\"");
                skip_ws();
                expect(':');
                skip_ws();
                v.members.emplace_back(std::move(key), value(depth + 1));
                skip_ws();
                if (peek() == ',') {
                    pos_++;
                    continue;
                }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            v.type = Value::Type::Array;
            pos_++;
            skip_ws();
            if (peek() == ']') {
                pos_++;
                return v;
            }
            for (;;) {
                skip_ws();
                v.items.push_back(value(depth + 1));
                skip_ws();
                if (peek() == ',') {
                    pos_++;
                    continue;
                }
                expect(']');
                return v;
            }
        }
        if (c == '"') {
            v.type = Value::Type::String;
            v.text = string();
            return v;
        }
        if (c == 't') {
            literal("true");
            v.type = Value::Type::Bool;
            v.boolean = true;
            return v;
        }
        if (c == 'f') {
            literal("false");
            v.type = Value::Type::Bool;
            return v;
        }
        if (c == 'n') {
            literal("null");
            return v;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            v.type = Value::Type::Number;
            v.text = number();
            return v;
        }
        error(std::string("unexpected character '") + c + "'");
    }

    std::string number() {
        size_t start = pos_;
        auto digits = [&] {
            size_t d = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') pos_++;
            if (pos_ == d) error("digit expected in number");
        };
        if (s_[pos_] == '-') pos_++;
        if (pos_ < s_.size() && s_[pos_] == '0') pos_++;
        else digits();
        if (pos_ < s_.size() && s_[pos_] == '.') {
            pos_++;
            digits();
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            pos_++;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) pos_++;
            digits();
        }
        return std::string(s_.substr(start, pos_ - start));
    }

    unsigned hex4() {
        if (pos_ + 4 > s_.size()) error("truncated \\u escape");
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
            char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
            else error("bad hex digit in \\u escape");
        }
        return v;
    }

    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) out += char(cp);
        else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }

    std::string string() {
        expect('"');
        std::string out;
        for (;;) {
            char c = peek();
            pos_++;
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
            if (static_cast<unsigned char>(c) >= 0x80) {
                size_t len = utf8_sequence_length(s_, pos_ - 1);
                if (len == 0) {
                    pos_--;
                    error("invalid UTF-8 in string");
                }
                out.append(s_.substr(pos_ - 1, len));
                pos_ += len - 1;
                continue;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            char e = peek();
            pos_++;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {
                        if (s_.substr(pos_, 2) != "\\u") error("unpaired surrogate in \\u escape");
                        pos_ += 2;
                        unsigned lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) error("invalid low surrogate in \\u escape");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp < 0xE000) {
                        error("unpaired surrogate in \\u escape");
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: error("invalid escape");
            }
        }
    }

    std::string_view s_;
    const std::string& what_;
    size_t pos_ = 0;
};

}  // namespace

Value::Value() = default;
Value::Value(const Value&) = default;
Value::Value(Value&&) noexcept = default;
Value& Value::operator=(const Value&) = default;
Value& Value::operator=(Value&&) noexcept = default;
Value::~Value() = default;

size_t utf8_sequence_length(std::string_view s, size_t pos) {
    auto byte = [&](size_t i) -> unsigned { return pos + i < s.size() ? static_cast<unsigned char>(s[pos + i]) : 0u; };
    auto cont = [&](size_t i) { return (byte(i) & 0xC0) == 0x80; };
    unsigned b0 = byte(0);
    if (pos >= s.size()) return 0;
    if (b0 < 0x80) return 1;
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        unsigned b1 = byte(1);
        if (b0 == 0xE0 && b1 < 0xA0) return 0;   // overlong
        if (b0 == 0xED && b1 >= 0xA0) return 0;  // UTF-16 surrogate
        return cont(1) && cont(2) ? 3 : 0;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        unsigned b1 = byte(1);
        if (b0 == 0xF0 && b1 < 0x90) return 0;   // overlong
        if (b0 == 0xF4 && b1 >= 0x90) return 0;  // past U+10FFFF
        return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;  // continuation byte, C0/C1 overlong lead, or F5..FF
}

const Value* Value::find(const std::string& key) const {
    for (auto& [k, v] : members)
        if (k == key) return &v;
    return nullptr;
}

bool Value::as_u64(uint64_t& out) const {
    if (type != Type::Number || text.empty() || text.size() > 20) return false;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        uint64_t d = uint64_t(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

double Value::as_double() const { return std::strtod(text.c_str(), nullptr); }

Value parse(std::string_view text, const std::string& what) { return Parser(text, what).document(); }

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

}  // namespace nn::json
