// Fuzz target: JSON documents (nn::json::parse). Accepted strings must be valid UTF-8 and survive
// quote() and a second parse unchanged.
#include <stdexcept>
#include <string_view>

#include "nn/check.hpp"
#include "nn/json.hpp"
#include "targets.hpp"

namespace {

void walk(const nn::json::Value& v) {
    uint64_t u;
    switch (v.type) {
        case nn::json::Value::Type::Number:
            v.as_u64(u);
            v.as_double();
            break;
        case nn::json::Value::Type::String: {
            for (size_t i = 0; i < v.text.size();) {
                size_t len = nn::json::utf8_sequence_length(v.text, i);
                // \u0000 decodes to a NUL byte, which is valid UTF-8 (length 1).
                if (len == 0) throw std::logic_error("json: accepted a string that is not valid UTF-8");
                i += len;
            }
            nn::json::Value again = nn::json::parse(nn::json::quote(v.text), "<quoted fuzz string>");
            if (again.text != v.text) throw std::logic_error("json: quote() does not round-trip");
            break;
        }
        case nn::json::Value::Type::Array:
            for (auto& x : v.items) walk(x);
            break;
        case nn::json::Value::Type::Object:
            for (auto& [k, x] : v.members) walk(x);
            break;
        default: break;
    }
}

}  // namespace

int fuzz::json(const uint8_t* data, size_t n) {
    try {
        walk(nn::json::parse(std::string_view(reinterpret_cast<const char*>(data), n), "<fuzz input>"));
    } catch (const nn::Error&) {
    }
    return 0;
}

FUZZ_ENTRY(json)
