// The sparse kernels for AVX2 with FMA (8 float lanes; 4-lane SSE vectors for the last columns).
// This file alone is compiled with -mavx2 -mfma -mno-avx512f (see meson.build), so it stays an AVX2
// path even in a build tuned for an AVX-512 CPU; it runs only after isa_available(Isa::avx2) said yes.
#include "sparse/kernels_isa.hpp"

#include <immintrin.h>

#include <xsimd/xsimd.hpp>

namespace sparse::kernels::isa {
namespace {

using Arch = xsimd::fma3<xsimd::avx2>;
using HalfArch = xsimd::sse4_2;
using QuarterArch = xsimd::sse4_2;  // no narrower vectors: the same as HalfArch

// 8 column indices widened to int32 for a gather.
inline xsimd::batch<int32_t, Arch> load_indices(const int32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline xsimd::batch<int32_t, Arch> load_indices(const uint16_t* p) {
    return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace
}  // namespace sparse::kernels::isa

#include "sparse/kernels_simd.hpp"

namespace sparse::kernels::isa {
const Table& avx2_table() { return kTable; }
}  // namespace sparse::kernels::isa
