#include "sparse/modules.hpp"

#include <cstdio>
#include <optional>

#include "nn/autograd.hpp"
#include "nn/check.hpp"
#include "nn/conv.hpp"
#include "nn/transformer.hpp"

namespace sparse {

namespace {

bool use_compact(IndexChoice index, int64_t cols) {
    switch (index) {
        case IndexChoice::automatic: return cols <= kCsr16MaxCols;
        case IndexChoice::u16:
            ENSURE(cols <= kCsr16MaxCols, "16-bit column indices requested for ", cols, " columns (at most ",
                   kCsr16MaxCols, ")");
            return true;
        case IndexChoice::i32: return false;
    }
    return false;
}

}  // namespace

SparseLinear::SparseLinear(const Csr& weight, const nn::Tensor& b, IndexChoice index)
    : nn::Module("SparseLinear"), in_features(weight.cols), out_features(weight.rows) {
    weight.validate("SparseLinear weight");
    ENSURE(!b.defined() || (b.ndim() == 1 && b.size(0) == weight.rows), "SparseLinear: bias ", b.shape(),
           " does not match ", weight.rows, " outputs");
    pattern = CsrPattern::of(weight, use_compact(index, weight.cols));
    values = register_parameter("weight_values", weight.values.clone());
    if (b.defined()) bias = register_parameter("bias", b.detach().clone());
}

std::shared_ptr<SparseLinear> SparseLinear::from_dense(const nn::Tensor& weight, const nn::Tensor& b,
                                                       const nn::Tensor& mask, IndexChoice index) {
    ENSURE(weight.ndim() == 2, "SparseLinear: weight must be [out, in], got ", weight.shape());
    return std::make_shared<SparseLinear>(sparse::from_dense(weight.detach(), mask), b, index);
}

SparseConv2d::SparseConv2d(const Csr& weight, const nn::Tensor& b, int64_t in_ch, int64_t k, int64_t stride,
                           int64_t padding, IndexChoice index)
    : nn::Module("SparseConv2d"), in_channels(in_ch), out_channels(weight.rows) {
    weight.validate("SparseConv2d weight");
    ENSURE(in_ch > 0 && k > 0 && stride > 0 && padding >= 0, "SparseConv2d: in_channels ", in_ch, ", kernel ", k,
           ", stride ", stride, " must be positive and padding ", padding, " non-negative");
    ENSURE(weight.cols == in_ch * k * k, "SparseConv2d: weight has ", weight.cols, " columns, but ", in_ch,
           " channels x ", k, "x", k, " need ", in_ch * k * k);
    ENSURE(!b.defined() || (b.ndim() == 1 && b.size(0) == weight.rows), "SparseConv2d: bias ", b.shape(),
           " does not match ", weight.rows, " output channels");
    shape.in_channels = in_ch, shape.kernel_size = k, shape.stride = stride, shape.padding = padding;
    pattern = CsrPattern::of(weight, use_compact(index, weight.cols));
    values = register_parameter("weight_values", weight.values.clone());
    if (b.defined()) bias = register_parameter("bias", b.detach().clone());
}

std::shared_ptr<SparseConv2d> SparseConv2d::from_dense(const nn::Tensor& weight, const nn::Tensor& b, int64_t stride,
                                                       int64_t padding, const nn::Tensor& mask, IndexChoice index) {
    ENSURE(weight.ndim() == 4 && weight.size(2) == weight.size(3), "SparseConv2d: weight must be [out, in, k, k], got ",
           weight.shape());
    return std::make_shared<SparseConv2d>(sparse::from_dense(weight.detach(), mask), b, weight.size(1), weight.size(2),
                                          stride, padding, index);
}

nn::Tensor SparseConv2d::dense_weight() const {
    return to_dense(weight_csr()).reshape({out_channels, in_channels, shape.kernel_size, shape.kernel_size});
}

namespace {

// The executor compile() installs into an nn::Linear (or BERT's tied decoder): the CSR product on a
// snapshot of the weight, the same snapshot dense for inputs of fewer than dense_rows rows when it
// keeps one, or the owner's dense product (its weight and bias) whenever autograd would record the call.
class CompiledLinear : public nn::Module {
public:
    CompiledLinear(const nn::Tensor& weight, const nn::Tensor& bias, const Csr& w, IndexChoice index, bool lockstep,
                   int64_t dense_rows)
        : nn::Module("CompiledLinear"), weight_(weight), bias_(bias), dense_rows_(dense_rows) {
        pattern_ = CsrPattern::of(w, use_compact(index, w.cols));
        values_ = w.values.detach().clone();
        const kernels::CsrRef r = pattern_->ref(values_.data());
        if (lockstep && kernels::lockstep_variant(r.index) && kernels::lockstep_pays(r))
            plan_ = std::make_unique<kernels::LockstepPlan>(kernels::build_lockstep(r));
        if (dense_rows_ > 0) dense_ = to_dense(w);
    }
    nn::Tensor forward(const nn::Tensor& x) override {
        if (nn::any_requires_grad({&x, &weight_, &bias_})) return nn::linear(x, weight_, bias_);
        if (dense_.defined() && x.ndim() > 0 && x.numel() < dense_rows_ * x.size(-1))
            return nn::linear(x, dense_, bias_);
        return linear(x, pattern_, values_, bias_, plan_.get());
    }
    int64_t plan_bytes() const { return plan_ ? plan_->bytes() : 0; }
    int64_t dense_copy_bytes() const { return dense_.defined() ? dense_.numel() * int64_t(sizeof(float)) : 0; }

private:
    nn::Tensor weight_, bias_;  // the owner's parameters (shared handles), for the dense fallback
    std::shared_ptr<const CsrPattern> pattern_;
    nn::Tensor values_;
    std::unique_ptr<kernels::LockstepPlan> plan_;  // null: the nr kernels
    nn::Tensor dense_;                             // the snapshot dense [out, in], or undefined
    int64_t dense_rows_;                           // inputs of fewer rows run dense_ (0: no copy)
};

// The executor compile() installs into an nn::Conv2d (Conv2d calls it only in inference).
class CompiledConv2d : public nn::ConvExecutor {
public:
    CompiledConv2d(const nn::Conv2d& owner, const Csr& w, IndexChoice index) {
        pattern_ = CsrPattern::of(w, use_compact(index, w.cols));
        values_ = w.values.detach().clone();
        shape_.in_channels = owner.in_channels, shape_.kernel_size = owner.kernel_size;
        shape_.stride = owner.stride, shape_.padding = owner.padding;
    }
    nn::Tensor run(const nn::Tensor& x, const nn::Tensor& scale, const nn::Tensor& shift, bool relu) override {
        return conv2d_affine(x, pattern_, values_, scale, shift, shape_, relu);
    }

private:
    std::shared_ptr<const CsrPattern> pattern_;
    nn::Tensor values_;
    SparseConvShape shape_;
};

double density_of(const nn::Tensor& t, int64_t* nnz) {
    nn::Tensor c = t.contiguous();
    int64_t n = 0;
    for (int64_t i = 0; i < c.numel(); i++) n += c.data()[i] != 0.0f;
    *nnz = n;
    return c.numel() ? double(n) / double(c.numel()) : 0.0;
}

// The model's parameters by identity, named as in its state dict, so that a weight a module shares
// under another name (BERT's decoder is the word embedding) finds its mask.
using ParamNames = std::map<const nn::TensorImpl*, std::string>;

// The mask of `weight` in o.masks (by its parameter name; undefined when it has none), checked against
// the weight's shape; fills d.weight, d.shape, d.nnz and d.density from the mask, else the weight's non-zeros.
nn::Tensor mask_of(const nn::Tensor& weight, const CompileOptions& o, const ParamNames& names, LayerDecision& d) {
    auto n = names.find(weight.impl());
    d.weight = n != names.end() ? n->second : d.name.empty() ? "weight" : d.name + ".weight";
    auto it = o.masks.find(d.weight);
    nn::Tensor mask = it == o.masks.end() ? nn::Tensor() : it->second;
    ENSURE(!mask.defined() || mask.shape() == weight.shape(), "sparse::compile: mask for ", d.weight,
           " has shape ", mask.shape(), " but the weight is ", weight.shape());
    d.shape = weight.shape();
    d.density = density_of(mask.defined() ? mask : weight.detach(), &d.nnz);
    return mask;
}

// One converter per layer type compile() knows. A converter returns false for modules of other types;
// otherwise it fills `d` (shape, density, decision, reason) and installs the executor when the layer
// goes sparse.
using Converter = bool (*)(nn::Module& m, const CompileOptions& o, const ParamNames& names, LayerDecision& d);

// The decision for a product y = x W^T + b (d.type set): its executor, or null when it stays dense.
std::shared_ptr<CompiledLinear> compile_linear(const nn::Tensor& weight, const nn::Tensor& bias,
                                               const CompileOptions& o, const ParamNames& names, LayerDecision& d) {
    nn::Tensor mask = mask_of(weight, o, names, d);
    if (d.density > o.max_density) {
        d.reason = nn::str_cat("density ", d.density, " > ", o.max_density, ": dense is faster");
        return nullptr;
    }
    nn::NoGradGuard ng;
    const int64_t dense_rows = d.density > kFewRowsDensityScale * o.small_batch_density ? kSmallBatchRows
                               : d.density > o.small_batch_density                        ? kFewRows
                                                                                          : 0;
    auto executor =
        std::make_shared<CompiledLinear>(weight, bias, from_dense(weight.detach(), mask), o.index, o.lockstep, dense_rows);
    d.plan_bytes = executor->plan_bytes();
    d.dense_copy_bytes = executor->dense_copy_bytes();
    d.dense_copy_rows = dense_rows;
    d.sparse = true;
    d.reason = nn::str_cat("density ", d.density, " <= ", o.max_density);
    return executor;
}

// A module that computes y = x W^T + b and can hold an executor for it: nn::Linear, and BERT's
// masked-language-model projection onto the vocabulary, whose weight is the word embedding (pruning
// the embedding makes it as sparse; the lookup itself stays dense, it reads whole rows).
struct LinearSite {
    const char* type;
    nn::Tensor weight, bias;
    std::shared_ptr<nn::Module>* executor;
};

std::optional<LinearSite> linear_site(nn::Module& m) {
    if (auto* lin = dynamic_cast<nn::Linear*>(&m)) return LinearSite{"Linear", lin->weight, lin->bias, &lin->executor};
    if (auto* head = dynamic_cast<nn::BertLMPredictionHead*>(&m))
        return LinearSite{"Decoder", head->decoder_weight, head->bias, &head->executor};
    return std::nullopt;
}

bool convert_linear(nn::Module& m, const CompileOptions& o, const ParamNames& names, LayerDecision& d) {
    std::optional<LinearSite> site = linear_site(m);
    if (!site) return false;
    d.type = site->type;
    *site->executor = nullptr;  // stays dense should the decision throw
    *site->executor = compile_linear(site->weight, site->bias, o, names, d);
    return true;
}

bool convert_conv2d(nn::Module& m, const CompileOptions& o, const ParamNames& names, LayerDecision& d) {
    auto* conv = dynamic_cast<nn::Conv2d*>(&m);
    if (!conv) return false;
    d.type = "Conv2d";
    conv->executor = nullptr;
    nn::Tensor mask = mask_of(conv->weight, o, names, d);
    if (d.density > o.max_conv_density) {
        d.reason = nn::str_cat("density ", d.density, " > ", o.max_conv_density, ": dense is faster");
        return true;
    }
    nn::NoGradGuard ng;
    conv->executor = std::make_shared<CompiledConv2d>(*conv, from_dense(conv->weight.detach(), mask), o.index);
    d.sparse = true;
    d.reason = nn::str_cat("density ", d.density, " <= ", o.max_conv_density);
    return true;
}

const Converter kConverters[] = {convert_linear, convert_conv2d};

}  // namespace

std::vector<LayerDecision> compile(nn::Module& model, const CompileOptions& options) {
    std::vector<LayerDecision> out;
    ParamNames names;
    for (auto& [name, t] : model.state_dict()) names.emplace(t.impl(), name);
    for (auto& [name, m] : model.named_modules())
        for (Converter convert : kConverters) {
            LayerDecision d;
            d.name = name;
            if (convert(*m, options, names, d)) {
                out.push_back(d);
                break;
            }
        }
    return out;
}

void uncompile(nn::Module& model) {
    for (auto& [name, m] : model.named_modules())
        if (std::optional<LinearSite> site = linear_site(*m)) *site->executor = nullptr;
        else if (auto* conv = dynamic_cast<nn::Conv2d*>(m)) conv->executor = nullptr;
}

// ---- memory ------------------------------------------------------------------------------------------

TensorMemory tensor_memory(const std::string& name, const nn::Shape& shape, int64_t nnz) {
    TensorMemory t;
    t.name = name;
    t.shape = shape;
    t.numel = shape.numel();
    t.nnz = nnz;
    t.dense_bytes = t.numel * int64_t(sizeof(float));
    t.candidate = shape.size() >= 2;
    if (!t.candidate) {
        t.csr_bytes = t.csr16_bytes = t.dense_bytes;
        return t;
    }
    int64_t rows = shape[0], cols = rows ? t.numel / rows : 0;
    t.csr_bytes = csr_bytes(rows, nnz);
    t.csr16_bytes = cols <= kCsr16MaxCols ? csr16_bytes(rows, nnz) : -1;
    return t;
}

std::vector<TensorMemory> memory_report(const std::vector<nn::NamedTensor>& tensors,
                                        const std::map<std::string, nn::Tensor>& masks) {
    std::vector<TensorMemory> out;
    for (auto& [name, t] : tensors) {
        auto it = masks.find(name);
        ENSURE(it == masks.end() || it->second.shape() == t.shape(), "memory_report: mask of ", name, " has shape ",
               it->second.shape(), " but the tensor is ", t.shape());
        int64_t nnz = 0;
        density_of(it == masks.end() ? t.detach() : it->second, &nnz);
        out.push_back(tensor_memory(name, t.shape(), nnz));
    }
    return out;
}

MemoryTotals memory_totals(const std::vector<TensorMemory>& report) {
    MemoryTotals m;
    for (auto& t : report) {
        int64_t c16 = t.csr16_bytes >= 0 ? t.csr16_bytes : t.csr_bytes;
        m.dense += t.dense_bytes;
        m.csr += t.csr_bytes;
        m.csr16 += c16;
        m.best += std::min(t.dense_bytes, c16);
    }
    return m;
}

std::string format_memory_report(const std::vector<TensorMemory>& report) {
    std::string s;
    char line[320];
    std::snprintf(line, sizeof line, "%-32s %-18s %10s %8s %12s %12s %12s %7s %7s\n", "tensor", "shape", "nnz", "density",
                  "dense B", "CSR B", "CSR16 B", "CSR", "CSR16");
    s += line;
    auto ratio_text = [](int64_t b, int64_t dense) {
        char buf[32] = "-";
        if (b >= 0 && dense > 0) std::snprintf(buf, sizeof buf, "%.3fx", double(b) / double(dense));
        return std::string(buf);
    };
    for (auto& t : report) {
        std::string c16 = t.csr16_bytes >= 0 ? std::to_string(t.csr16_bytes) : "-";
        std::snprintf(line, sizeof line, "%-32s %-18s %10lld %8.4f %12lld %12lld %12s %7s %7s\n", t.name.c_str(),
                      nn::to_string(t.shape).c_str(), (long long)t.nnz, t.density(), (long long)t.dense_bytes,
                      (long long)t.csr_bytes, c16.c_str(), ratio_text(t.csr_bytes, t.dense_bytes).c_str(),
                      ratio_text(t.csr16_bytes, t.dense_bytes).c_str());
        s += line;
    }
    MemoryTotals m = memory_totals(report);
    auto ratio = [&](int64_t b) { return m.dense ? double(b) / double(m.dense) : 1.0; };
    std::snprintf(line, sizeof line,
                  "total: dense %lld B; all weights CSR %lld B (%.3fx); CSR16 %lld B (%.3fx); smallest per tensor "
                  "%lld B (%.3fx)\n",
                  (long long)m.dense, (long long)m.csr, ratio(m.csr), (long long)m.csr16, ratio(m.csr16),
                  (long long)m.best, ratio(m.best));
    s += line;
    return s;
}

}  // namespace sparse
