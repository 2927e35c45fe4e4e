// A small strict JSON reader (RFC 8259) for safetensors headers and run files, and an escaping helper
// for writers. Strict: no trailing commas, no comments, duplicate keys rejected, nesting depth capped,
// strings must be valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF), numbers kept
// as their source text so that integers up to 2^64 are not rounded through double.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nn::json {

struct Value {
    enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
    bool boolean = false;
    std::string text;  // String: decoded UTF-8; Number: the literal as written
    std::vector<Value> items;                             // Array
    std::vector<std::pair<std::string, Value>> members;   // Object, in source order

    bool is_object() const { return type == Type::Object; }
    bool is_array() const { return type == Type::Array; }
    bool is_string() const { return type == Type::String; }
    bool is_number() const { return type == Type::Number; }
    const Value* find(const std::string& key) const;  // Object member or null
    // Non-negative integer that fits in uint64 (no sign, fraction or exponent); false otherwise.
    bool as_u64(uint64_t& out) const;
    double as_double() const;

    // Declared here and defaulted in json.cpp: Value holds containers of itself, which a C++20
    // standard library may only instantiate once Value is complete (clang rejects the implicit ones).
    Value();
    Value(const Value&);
    Value(Value&&) noexcept;
    Value& operator=(const Value&);
    Value& operator=(Value&&) noexcept;
    ~Value();
};

// Length of the valid UTF-8 sequence starting at s[pos] (1 to 4), or 0 if it is invalid there.
size_t utf8_sequence_length(std::string_view s, size_t pos);

// Parses a whole document; throws nn::Error "<what>: invalid JSON at byte N: <reason>".
Value parse(std::string_view text, const std::string& what = "JSON");

// "..." with JSON escapes.
std::string quote(std::string_view s);

}  // namespace nn::json
