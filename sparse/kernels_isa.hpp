// Internal to sparse/: the kernel bodies compiled once per instruction set (kernels_avx2.cpp with
// -mavx2 -mfma, kernels_avx512.cpp with -mavx512f/bw/dq/vl) from the templates in kernels_simd.hpp.
// Each body covers a range of rows (or of batch columns, for the scatter of spmmt); kernels.cpp
// splits the work across threads and calls them. Nothing here touches threads or allocates.
#pragma once

#include <cstdint>

#include "sparse/kernels.hpp"

namespace sparse::kernels::isa {

// fn(p, begin, end, work): rows [begin, end) of W (spmv, sddmm), or batch columns [begin, end) of
// every row (spmmt, stream_rows). `work` is unused (null).
using RangeFn = void (*)(const Operands& p, int64_t begin, int64_t end, float* work);
// spmm over rows [m0, m1) and batch columns [n0, n1); `work` is this call's scratch of
// spmm_scratch(p) floats, 64-byte aligned, used by no other thread.
using SpmmFn = void (*)(const Operands& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* work);

struct Table {
    int64_t lanes;           // floats per vector register
    RangeFn spmv[2];         // [index width]: gathers
    RangeFn spmv_chains[2];  // [index width]: scalar, four sums per row
    // [index width][tile: 4, 2 or 1 registers per row, column slices where they pay; or 4 registers,
    // every row in one pass]
    SpmmFn spmm[2][4];
    int64_t (*spmm_scratch[4])(const Operands& p);  // [tile]
    // The lockstep product over W's lockstep plan (p.lockstep, set), [index width], for rows [m0, m1)
    // on lockstep block boundaries: four rows at once on tiles of lockstep_vectors registers.
    int64_t lockstep_vectors;
    SpmmFn spmm_lockstep[2];
    int64_t (*spmm_lockstep_scratch)(const Operands& p);
    RangeFn spmmt[2];        // 4-register tiles
    RangeFn sddmm[2];
    RangeFn stream_rows[2];  // batch columns [begin, end): see stream_x_rows()
    void (*transpose)(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t R, int64_t C);
};

const Table& avx2_table();
const Table& avx512_table();

}  // namespace sparse::kernels::isa
