// `bench --suite sparse`: the sparse kernels of the registry against OpenBLAS dense sgemm on the
// zero-filled matrix (and against torch.sparse when python3-torch is installed), the memory of each
// format, and end-to-end inference of a pruned LeNet-300-100 compiled to sparse layers.
#pragma once

#include <string>

namespace experiments {

struct SparseBenchConfig {
    std::string shapes = "1024x1024,4096x1024,300x784,64x288,128x576";  // M x K of the weight
    std::string batches = "1,8,64,256";       // N for the fully connected shapes
    std::string conv_batches = "196,1568";    // N for the conv stand-ins (14x14 positions x B = 1, 8)
    std::string conv_shapes = "64x288,128x576";
    std::string sparsities = "0.5,0.6,0.7,0.8,0.9,0.95,0.98,0.99";
    std::string variants = "all";  // all, or best (the variant sparse layers run, per ISA)
    int max_threads = 2;
    double seconds = 0.01;  // minimum time of one sample; each column takes the fastest of `samples`
    int samples = 7;
    bool reference = true;  // time the scalar reference too (slow at low sparsity)
    std::string torch = "auto";
    std::string out = "runs/bench";
    bool e2e = true;  // LeNet-300-100 at 95 % sparsity, batch 128
};

int run_sparse_bench(const SparseBenchConfig& cfg);

}  // namespace experiments
