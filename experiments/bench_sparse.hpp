// `bench --suite sparse`: the sparse kernels of the registry against OpenBLAS dense sgemm on the
// zero-filled matrix (and against torch.sparse and Eigen when python3-torch resp. libeigen3-dev are
// installed), the memory of each
// format, and end-to-end inference of pruned zoo models compiled to sparse layers.
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
    std::string torch = "auto";  // auto (when installed), on or off
    std::string eigen = "auto";
    std::string out = "runs/bench";
    bool kernels = true;  // the kernel sweep and memory table (false: end to end only)
    bool e2e = true;      // pruned zoo models, compiled sparse against dense
    std::string e2e_models = "lenet300,conv4,vgg";
    std::string e2e_sparsities = "0.9,0.95";
    std::string e2e_batches = "1,128";
    double e2e_max_conv_density = -1;  // compile()'s conv threshold (< 0: kConvCrossoverDensity)
    bool conv_train = true;               // vgg's conv layers, forward + backward, sparse::conv2d vs nn::conv2d
    int64_t conv_train_batch = 32;
};

int run_sparse_bench(const SparseBenchConfig& cfg);

}  // namespace experiments
