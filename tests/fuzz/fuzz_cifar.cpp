// Fuzz target: CIFAR-10 binary batches (data::parse_cifar10). Accepted batches have labels < 10 and
// 3072 pixels per record.
#include <stdexcept>

#include "data/cifar.hpp"
#include "nn/check.hpp"
#include "targets.hpp"

int fuzz::cifar(const uint8_t* data, size_t n) {
    try {
        data::CifarBatch b = data::parse_cifar10(data, n, "<fuzz input>");
        if (b.labels.size() != size_t(b.n) || b.pixels.size() != size_t(b.n) * 3072)
            throw std::logic_error("parse_cifar10: sizes disagree with the record count");
        for (uint8_t l : b.labels)
            if (l >= 10) throw std::logic_error("parse_cifar10: accepted a label >= 10");
    } catch (const nn::Error&) {
    }
    return 0;
}

FUZZ_ENTRY(cifar)
