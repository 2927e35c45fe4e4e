#include "nn/rng.hpp"

#include <cmath>

namespace nn {

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t hash64(const void* data, size_t n, uint64_t seed) {
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return splitmix64(h);
}

void Rng::reseed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
}

Rng Rng::fork(uint64_t stream) const {
    uint64_t x = s_[0] ^ (s_[1] << 1) ^ (s_[2] << 2) ^ (s_[3] << 3) ^ hash64(&stream, sizeof stream);
    return Rng(splitmix64(x));
}

float Rng::uniform() { return float(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::normal() {
    // Box-Muller on (0, 1] x [0, 1); one value per call keeps the state a plain four words.
    double u1 = (double(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = double(next_u64() >> 11) * (1.0 / 9007199254740992.0);
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

uint64_t Rng::below(uint64_t n) {
    if (n <= 1) return 0;
    // Lemire, "Fast random integer generation in an interval" (2019).
    __uint128_t m = __uint128_t(next_u64()) * n;
    uint64_t low = uint64_t(m);
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = __uint128_t(next_u64()) * n;
            low = uint64_t(m);
        }
    }
    return uint64_t(m >> 64);
}

std::vector<int64_t> Rng::permutation(int64_t n) {
    std::vector<int64_t> p(size_t(n > 0 ? n : 0));
    for (int64_t i = 0; i < n; i++) p[size_t(i)] = i;
    shuffle(p);
    return p;
}

Rng& op_rng() {
    static Rng rng(0);
    return rng;
}

void manual_seed(uint64_t seed) { op_rng().reseed(seed); }

}  // namespace nn
