// Fuzz target: safetensors files (nn::st::File::parse). An accepted file must also survive reading
// every tensor (as float or integer, per its dtype) and re-serialising: the bytes written must parse
// back to the same entries and metadata.
#include <stdexcept>

#include "nn/check.hpp"
#include "nn/safetensors.hpp"
#include "targets.hpp"

int fuzz::safetensors(const uint8_t* data, size_t n) {
    nn::st::File f;
    try {
        f = nn::st::File::parse(data, n, "<fuzz input>");
    } catch (const nn::Error&) {
        return 0;
    }
    for (auto& e : f.entries()) {
        if (e.bytes.size() != size_t(e.numel()) * nn::st::dtype_size(e.dtype))
            throw std::logic_error("safetensors: entry size differs from its shape");
        try {
            // Reading converts into a tensor of numel elements: keep that allocation bounded.
            if (e.numel() > (1 << 20)) continue;
            bool is_float = e.dtype == nn::st::DType::F32 || e.dtype == nn::st::DType::F64 ||
                            e.dtype == nn::st::DType::F16 || e.dtype == nn::st::DType::BF16;
            if (is_float) f.tensor(e.name);
            else f.int_tensor(e.name);
        } catch (const nn::Error&) {
            // too many dimensions for a Tensor: a clear error is the right answer
        }
    }
    std::vector<uint8_t> again = f.serialize();
    nn::st::File g = nn::st::File::parse(again.data(), again.size(), "<re-serialised fuzz input>");
    if (g.metadata != f.metadata || g.entries().size() != f.entries().size())
        throw std::logic_error("safetensors: re-serialised file differs");
    for (auto& e : f.entries()) {
        const nn::st::Entry* h = g.find(e.name);
        if (!h || h->dtype != e.dtype || h->shape != e.shape || h->bytes != e.bytes)
            throw std::logic_error("safetensors: re-serialised entry differs");
    }
    return 0;
}

FUZZ_ENTRY(safetensors)
