// Fuzz target: IDX files (data::parse_idx). Accepted files must hold exactly the promised values.
#include <stdexcept>

#include "data/idx.hpp"
#include "nn/check.hpp"
#include "targets.hpp"

int fuzz::idx(const uint8_t* data, size_t n) {
    try {
        data::IdxArray a = data::parse_idx(data, n, "<fuzz input>");
        size_t total = 1;
        for (int64_t d : a.dims) total *= size_t(d);
        if (a.values.size() != total) throw std::logic_error("parse_idx: value count differs from the dimensions");
    } catch (const nn::Error&) {
    }
    return 0;
}

FUZZ_ENTRY(idx)
