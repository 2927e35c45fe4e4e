// Sparse layers and the pass that puts them into a model:
//  - SparseLinear: a Linear whose weight is a CSR pattern plus a trainable values tensor; use it to
//    build or train sparse models directly.
//  - SparseConv2d: the same for a convolution (SpMM per image, on the padded image or its im2col).
//  - compile(model): gives each nn::Linear and nn::Conv2d, and BERT's decoder tied to the word
//    embedding, whose density is at or below its measured crossover a CSR executor (Linear::executor,
//    Conv2d::executor, BertLMPredictionHead::executor) for inference; the dense parameters stay the
//    model's state.
//  - memory accounting: dense, CSR and CSR16 bytes per tensor and per model.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.hpp"
#include "nn/module.hpp"
#include "sparse/csr.hpp"
#include "sparse/ops.hpp"

namespace sparse {

enum class IndexChoice { automatic, i32, u16 };  // automatic: 16-bit when the column count allows

class SparseLinear : public nn::Module {
public:
    // weight [out, in] as CSR; bias [out] or undefined (copied, like the values).
    SparseLinear(const Csr& weight, const nn::Tensor& bias, IndexChoice index = IndexChoice::automatic);
    // From a dense weight and its mask (undefined: the weight's non-zeros are the pattern).
    static std::shared_ptr<SparseLinear> from_dense(const nn::Tensor& weight, const nn::Tensor& bias,
                                                    const nn::Tensor& mask = nn::Tensor(),
                                                    IndexChoice index = IndexChoice::automatic);
    nn::Tensor forward(const nn::Tensor& x) override { return linear(x, pattern, values, bias); }

    Csr weight_csr() const { return pattern->to_csr(values); }  // shares the values
    nn::Tensor dense_weight() const { return to_dense(weight_csr()); }

    int64_t in_features, out_features;
    std::shared_ptr<const CsrPattern> pattern;
    nn::Tensor values;  // parameter "weight_values" [nnz]
    nn::Tensor bias;    // parameter "bias" [out], or undefined
};

// weight [OC, C, k, k] as CSR [OC, C*k*k]; bias [OC] or undefined. Trains (sparse::conv2d is
// differentiable); in inference inside a Sequential it runs the ReLU after it separately.
class SparseConv2d : public nn::Module {
public:
    SparseConv2d(const Csr& weight, const nn::Tensor& bias, int64_t in_channels, int64_t kernel_size, int64_t stride,
                 int64_t padding, IndexChoice index = IndexChoice::automatic);
    // From a dense weight [OC, C, k, k] and its mask (undefined: the weight's non-zeros are the pattern).
    static std::shared_ptr<SparseConv2d> from_dense(const nn::Tensor& weight, const nn::Tensor& bias, int64_t stride,
                                                    int64_t padding, const nn::Tensor& mask = nn::Tensor(),
                                                    IndexChoice index = IndexChoice::automatic);
    nn::Tensor forward(const nn::Tensor& x) override { return conv2d(x, pattern, values, bias, shape); }

    Csr weight_csr() const { return pattern->to_csr(values); }  // shares the values
    // [OC, C, k, k]
    nn::Tensor dense_weight() const;

    int64_t in_channels, out_channels;
    SparseConvShape shape;
    std::shared_ptr<const CsrPattern> pattern;
    nn::Tensor values;  // parameter "weight_values" [nnz]
    nn::Tensor bias;    // parameter "bias" [OC], or undefined
};

// Density at or below which compile() runs a Linear sparsely: the crossover of `bench --suite
// sparse`, where the best CSR kernel overtakes OpenBLAS at batch >= 64 (see README, Performance).
constexpr double kCrossoverDensity = 0.4;
// The same for a Conv2d: where the sparse convolution (direct on the padded image at stride 1)
// overtakes our dense one, measured end to end on the magnitude-pruned vgg and conv4 with every conv
// layer forced sparse, at batch 128, where the dense 3x3 layers run by Winograd (Zen 5, one thread):
// 0.99x / 0.84x at 70 % sparsity, 1.12x / 0.96x at 75 %, 1.31x / 1.11x at 80 %, 1.57x / 1.38x at
// 85 % (batch 1: 1.02x / 1.22x at 80 %). README, "Sparse execution".
constexpr double kConvCrossoverDensity = 0.2;

// Inputs of fewer than kSmallBatchRows rows (a batch of vectors, or batch x tokens) run a sparse
// Linear well only at high sparsity: one row runs SpMV (a scalar multiply-add per entry), 2 to 7 rows
// a 4-, 8- or 16-lane tile over a padded copy of x, while the dense product streams W once at full
// width (sgemv, or nn's few-row kernel). Measured in bench --suite sparse (Zen 5, one thread, 300x784,
// 1024x1024 and 4096x1024), sparse beats dense from about 87 % sparsity at 1 to 4 rows and from about
// 81 % at 5 to 7 rows; end to end on lenet300 pruned by magnitude (secateurs bench
// --small-batch-density 1, every layer sparse), batch 1 / 2 / 4 / 7 against dense: 0.71x / 0.60x /
// 0.76x / 1.17x at 80 %, 0.94x / 0.78x / 0.87x / 1.42x at 85 %, 1.35x / 1.27x / 1.40x / 1.99x at 90 %.
// A compiled Linear denser than kSmallBatchDensity therefore keeps a dense copy of its masked weight
// and runs it for inputs of fewer than kFewRows rows, and for kFewRows to kSmallBatchRows - 1 rows
// when it is also denser than kFewRowsDensityScale times that.
constexpr int64_t kSmallBatchRows = 8;
constexpr int64_t kFewRows = 5;
constexpr double kSmallBatchDensity = 0.13;
constexpr double kFewRowsDensityScale = 1.5;

struct CompileOptions {
    double max_density = kCrossoverDensity;            // Linear layers
    double max_conv_density = kConvCrossoverDensity;  // Conv2d layers
    // Sparse Linear layers denser than this keep a dense copy of their masked weight for inputs of
    // fewer than kFewRows rows, and use it up to kSmallBatchRows - 1 rows when denser than
    // kFewRowsDensityScale times this (LayerDecision::dense_copy_bytes); 1 or more: no copies.
    double small_batch_density = kSmallBatchDensity;
    // Masks by parameter name ("fc1.weight"); a layer without one uses its weight's non-zeros.
    std::map<std::string, nn::Tensor> masks;
    IndexChoice index = IndexChoice::automatic;
    // Give sparse Linear layers that kernels::lockstep_pays() a lockstep plan for batches of 49 and
    // more (with AVX-512): faster, at the cost of the plan's memory beside the CSR (LayerDecision).
    bool lockstep = true;
};

struct LayerDecision {
    std::string name;    // module path, e.g. "fc1"
    std::string type;    // "Linear", "Conv2d", or "Decoder" (BERT's projection onto the vocabulary)
    std::string weight;  // the weight's parameter name: "fc1.weight"; the decoder's is the word embedding
    nn::Shape shape;   // weight shape
    int64_t nnz = 0;
    double density = 1.0;
    bool sparse = false;
    std::string reason;
    int64_t plan_bytes = 0;        // the lockstep plan the executor keeps beside its CSR (0: none)
    int64_t dense_copy_bytes = 0;  // its dense copy for inputs of few rows (0: none; see kSmallBatchRows)
    int64_t dense_copy_rows = 0;   // inputs of fewer rows than this run the copy (kFewRows or kSmallBatchRows)
};

// Installs CSR executors into the model's layers (replacing earlier ones) and reports each decision.
// The executor holds a snapshot of the weights: compile again after changing them. It runs only
// where autograd records nothing (NoGradGuard, or parameters without requires_grad); otherwise the
// layer falls back to its dense product, so training a compiled model stays correct.
std::vector<LayerDecision> compile(nn::Module& model, const CompileOptions& options = {});
// Removes every executor compile() installed.
void uncompile(nn::Module& model);

// ---- memory accounting ----------------------------------------------------------------------------
// One tensor: a weight of rank >= 2 is a CSR candidate as [shape[0], rest]; rank 0/1 tensors (biases,
// norms) are dense in every format.
struct TensorMemory {
    std::string name;
    nn::Shape shape;
    int64_t numel = 0, nnz = 0;
    bool candidate = false;  // rank >= 2
    int64_t dense_bytes = 0, csr_bytes = 0, csr16_bytes = 0;  // csr16_bytes: -1 when columns > 65535
    double density() const { return numel ? double(nnz) / double(numel) : 0.0; }
};

// nnz = the mask's ones when `masks` has the tensor's name, else its non-zeros.
std::vector<TensorMemory> memory_report(const std::vector<nn::NamedTensor>& tensors,
                                        const std::map<std::string, nn::Tensor>& masks = {});
inline std::vector<TensorMemory> memory_report(const nn::Module& model,
                                               const std::map<std::string, nn::Tensor>& masks = {}) {
    return memory_report(model.state_dict(), masks);
}
TensorMemory tensor_memory(const std::string& name, const nn::Shape& shape, int64_t nnz);

struct MemoryTotals {
    int64_t dense = 0;  // everything dense float32
    int64_t csr = 0;    // every candidate as CSR (int32 indices), the rest dense
    int64_t csr16 = 0;  // every candidate as CSR16 where it fits, else CSR
    int64_t best = 0;   // per tensor the smallest of dense, CSR and CSR16 (what `sparsify` writes)
};
MemoryTotals memory_totals(const std::vector<TensorMemory>& report);
// A printable table: name, shape, nnz, density, dense/CSR/CSR16 bytes, ratios, and the totals.
std::string format_memory_report(const std::vector<TensorMemory>& report);

}  // namespace sparse
