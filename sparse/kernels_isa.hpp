// Internal to sparse/: the kernel bodies compiled once per instruction set (kernels_avx2.cpp with
// -mavx2 -mfma, kernels_avx512.cpp with -mavx512f/bw/dq/vl) from the templates in kernels_simd.hpp.
// Each body covers a range of rows (or of batch columns, for the scatter of spmmt); kernels.cpp
// splits the work across threads and calls them. Nothing here touches threads or allocates.
#pragma once

#include <cstdint>

#include "sparse/kernels.hpp"

namespace sparse::kernels::isa {

// fn(p, begin, end, work): rows [begin, end) of W (spmv, spmm, sddmm), or batch columns [begin, end)
// of every row (spmmt). `work` is this call's scratch: null, or (spmm) room for pack_floats(p) floats,
// 64-byte aligned, used by no other thread.
using RangeFn = void (*)(const Operands& p, int64_t begin, int64_t end, float* work);

struct Table {
    int64_t lanes;           // floats per vector register
    RangeFn spmv[2];         // [index width]
    RangeFn spmm[2][3];      // [index width][tile: 4, 2 or 1 registers per row]
    RangeFn spmmt[2];        // 4-register tiles
    RangeFn sddmm[2];
    // Scratch floats spmm wants per thread (0 when it reads X in place).
    int64_t (*pack_floats)(const Operands& p);
    void (*transpose)(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t R, int64_t C);
};

const Table& avx2_table();
const Table& avx512_table();

}  // namespace sparse::kernels::isa
