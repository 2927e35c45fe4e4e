// Our own deterministic random numbers: xoshiro256** seeded through splitmix64, with uniform, normal
// (Box-Muller), unbiased bounded integers and Fisher-Yates shuffle. No std:: distributions (their
// output differs across standard libraries). The state is four words, saved in checkpoints.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nn {

class Rng {
public:
    explicit Rng(uint64_t seed = 0) { reseed(seed); }

    void reseed(uint64_t seed);
    // A generator for a sub-stream (e.g. one per epoch or per layer): a pure function of this
    // generator's seed history and `stream`; does not advance this generator.
    Rng fork(uint64_t stream) const;

    uint64_t next_u64() {  // xoshiro256** (Blackman & Vigna, 2018); inline: dropout draws millions per step
        uint64_t result = rotl(s_[1] * 5, 7) * 9;
        uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    uint32_t next_u32() { return uint32_t(next_u64() >> 32); }
    float uniform();                          // [0, 1), 24 random bits
    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
    float normal();                           // mean 0, std 1
    float normal(float mean, float std) { return mean + std * normal(); }
    uint64_t below(uint64_t n);               // uniform in [0, n), unbiased (Lemire)

    template <class T>
    void shuffle(std::vector<T>& v) {
        for (size_t i = v.size(); i > 1; i--) std::swap(v[i - 1], v[below(i)]);
    }
    std::vector<int64_t> permutation(int64_t n);

    std::array<uint64_t, 4> state() const { return s_; }
    void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::array<uint64_t, 4> s_{};
};

uint64_t splitmix64(uint64_t& x);
// Stable 64-bit hash of bytes (FNV-1a then a splitmix finaliser); used to derive seeds and splits.
uint64_t hash64(const void* data, size_t n, uint64_t seed = 0);

// The generator stochastic ops (dropout) draw from, like torch's default generator.
Rng& op_rng();
void manual_seed(uint64_t seed);  // reseeds op_rng()

}  // namespace nn
