// The sparse kernels for AVX-512 (16 float lanes; 8- and 4-lane vectors for the last columns). This
// file alone is compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl (see meson.build); it runs
// only after isa_available(Isa::avx512) said yes.
#include "sparse/kernels_isa.hpp"

#include <immintrin.h>

#include <xsimd/xsimd.hpp>

namespace sparse::kernels::isa {
namespace {

using Arch = xsimd::avx512bw;
using HalfArch = xsimd::fma3<xsimd::avx2>;
using QuarterArch = xsimd::sse4_2;

// 16 column indices widened to int32 for a gather.
inline xsimd::batch<int32_t, Arch> load_indices(const int32_t* p) { return _mm512_loadu_si512(p); }
inline xsimd::batch<int32_t, Arch> load_indices(const uint16_t* p) {
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

}  // namespace
}  // namespace sparse::kernels::isa

#include "sparse/kernels_simd.hpp"

namespace sparse::kernels::isa {
const Table& avx512_table() { return kTable; }
}  // namespace sparse::kernels::isa
