#include "sparse/checkpoint.hpp"

#include <cstring>
#include <set>
#include <sstream>

#include "nn/check.hpp"
#include "nn/checkpoint.hpp"

namespace sparse {

namespace {

constexpr const char* kCrow = ".crow_indices";
constexpr const char* kCol = ".col_indices";
constexpr const char* kValues = ".values";
constexpr const char* kShapeKey = "sparse.";

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_float(st::DType d) {
    return d == st::DType::F32 || d == st::DType::F16 || d == st::DType::BF16 || d == st::DType::F64;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s;
    for (size_t i = 0; i < shape.size(); i++) s += (i ? "," : "") + std::to_string(shape[i]);
    return s;
}

// "300,784" -> {300, 784}; rank >= 2, extents in [0, 2^31), at most 2^40 elements.
std::vector<int64_t> parse_shape(const std::string& text, const std::string& what, const std::string& name) {
    std::vector<int64_t> shape;
    std::stringstream ss(text);
    std::string part;
    int64_t numel = 1;
    while (std::getline(ss, part, ',')) {
        size_t used = 0;
        long long v = -1;
        try {
            v = std::stoll(part, &used);
        } catch (...) {
            used = 0;
        }
        ENSURE(used == part.size() && !part.empty() && v >= 0 && v <= INT32_MAX, what, ": sparse tensor '", name,
               "' has a malformed shape \"", text, "\" in its metadata (expected extents like \"300,784\")");
        shape.push_back(v);
        ENSURE(v == 0 || numel <= (int64_t(1) << 40) / v, what, ": sparse tensor '", name, "' shape \"", text,
               "\" is too large");
        numel *= v;
    }
    ENSURE(shape.size() >= 2 && shape.size() <= size_t(nn::kMaxDims), what, ": sparse tensor '", name, "' shape \"",
           text, "\" must have 2 to ", nn::kMaxDims, " extents");
    return shape;
}

const st::Entry& component(const st::File& f, const std::string& what, const std::string& name, const char* suffix) {
    const st::Entry* e = f.find(name + suffix);
    ENSURE(e, what, ": sparse tensor '", name, "' has no entry '", name, suffix, "'");
    ENSURE(e->shape.size() == 1, what, ": '", name, suffix, "' must be one-dimensional, got ", e->shape.size(),
           " dimensions");
    return *e;
}

SparseTensor read_sparse_tensor(const st::File& f, const std::string& what, const std::string& name,
                                const std::string& shape_meta) {
    SparseTensor t;
    t.name = name;
    t.shape = parse_shape(shape_meta, what, name);
    const st::Entry& crow = component(f, what, name, kCrow);
    const st::Entry& col = component(f, what, name, kCol);
    const st::Entry& val = component(f, what, name, kValues);
    ENSURE(crow.dtype == st::DType::I32, what, ": '", name, kCrow, "' has dtype ", st::dtype_name(crow.dtype),
           ", expected I32");
    ENSURE(col.dtype == st::DType::I32 || col.dtype == st::DType::U16, what, ": '", name, kCol, "' has dtype ",
           st::dtype_name(col.dtype), ", expected I32 or U16");
    ENSURE(is_float(val.dtype), what, ": '", name, kValues, "' has dtype ", st::dtype_name(val.dtype),
           ", expected a floating-point dtype");
    ENSURE(col.shape[0] == val.shape[0], what, ": sparse tensor '", name, "' has ", col.shape[0],
           " column indices but ", val.shape[0], " values");
    Csr& m = t.csr;
    m.rows = t.shape[0];
    m.cols = 1;
    for (size_t i = 1; i < t.shape.size(); i++) m.cols *= t.shape[i];
    ENSURE(m.cols <= INT32_MAX, what, ": sparse tensor '", name, "' has ", m.cols, " columns (at most ", INT32_MAX, ")");
    ENSURE(crow.shape[0] == m.rows + 1, what, ": '", name, kCrow, "' has ", crow.shape[0], " entries but shape [",
           shape_meta, "] has ", m.rows, " rows (expected rows + 1)");
    m.row_ptr.resize(size_t(crow.shape[0]));
    std::memcpy(m.row_ptr.data(), crow.bytes.data(), crow.bytes.size());
    m.col_idx.resize(size_t(col.shape[0]));
    if (col.dtype == st::DType::I32) {
        // An empty matrix has no column indices: memcpy must not see the null data() of an empty vector.
        if (!col.bytes.empty()) std::memcpy(m.col_idx.data(), col.bytes.data(), col.bytes.size());
    } else {
        for (size_t j = 0; j < m.col_idx.size(); j++) {
            uint16_t c;
            std::memcpy(&c, col.bytes.data() + 2 * j, 2);
            m.col_idx[j] = c;
        }
    }
    m.values = f.tensor(name + kValues);
    m.validate(what + ": sparse tensor '" + name + "'");
    t.compact = col.dtype == st::DType::U16;
    return t;
}

nn::Tensor entry_as_tensor(const st::File& f, const st::Entry& e) {
    if (is_float(e.dtype)) return f.tensor(e.name);
    nn::IntTensor it = f.int_tensor(e.name);
    nn::Tensor t = nn::Tensor::empty(it.shape);
    for (int64_t i = 0; i < it.numel(); i++) t.data()[i] = float(it[i]);
    return t;
}

nn::Tensor expand(const SparseTensor& s) { return to_dense(s.csr).reshape(nn::Shape(s.shape)); }

}  // namespace

const SparseTensor* SparseCheckpoint::find(const std::string& name) const {
    for (auto& s : sparse)
        if (s.name == name) return &s;
    return nullptr;
}

std::map<std::string, nn::Tensor> SparseCheckpoint::state_dict() const {
    std::map<std::string, nn::Tensor> out;
    for (auto& e : dense.entries()) out[e.name] = entry_as_tensor(dense, e);
    for (auto& s : sparse) out[s.name] = expand(s);
    return out;
}

std::map<std::string, nn::Tensor> SparseCheckpoint::masks() const {
    std::map<std::string, nn::Tensor> out;
    for (auto& s : sparse) out[s.name] = pattern_mask(s.csr).reshape(nn::Shape(s.shape));
    return out;
}

std::vector<TensorMemory> SparseCheckpoint::memory() const {
    std::vector<TensorMemory> out;
    for (auto& e : dense.entries()) {
        if (is_float(e.dtype)) {
            nn::Tensor t = dense.tensor(e.name);
            int64_t nnz = 0;
            for (int64_t i = 0; i < t.numel(); i++) nnz += t.data()[i] != 0.0f;
            out.push_back(tensor_memory(e.name, t.shape(), nnz));
        } else {  // integer buffers: dense in every format, at their own size
            TensorMemory m;
            m.name = e.name;
            m.shape = nn::Shape(e.shape);
            m.numel = m.nnz = e.numel();
            m.dense_bytes = m.csr_bytes = m.csr16_bytes = int64_t(e.bytes.size());
            out.push_back(m);
        }
    }
    for (auto& s : sparse) out.push_back(tensor_memory(s.name, nn::Shape(s.shape), s.csr.nnz()));
    return out;
}

bool is_sparse_checkpoint(const st::File& f) {
    auto it = f.metadata.find("format");
    return it != f.metadata.end() && it->second == kSparseFormat;
}

SparseCheckpoint parse_sparse_checkpoint(const st::File& f, const std::string& what) {
    SparseCheckpoint c;
    std::set<std::string> consumed;
    for (auto& [key, value] : f.metadata) {
        if (key.rfind(kShapeKey, 0) != 0) {
            c.dense.metadata[key] = value;
            continue;
        }
        std::string name = key.substr(std::strlen(kShapeKey));
        ENSURE(!name.empty(), what, ": metadata key '", key, "' names no tensor");
        ENSURE(!f.contains(name), what, ": tensor '", name, "' is stored both dense and sparse");
        c.sparse.push_back(read_sparse_tensor(f, what, name, value));
        consumed.insert(name + kCrow);
        consumed.insert(name + kCol);
        consumed.insert(name + kValues);
    }
    for (auto& e : f.entries())
        if (!consumed.count(e.name)) c.dense.put_raw(e);
    return c;
}

SparseCheckpoint read_sparse_checkpoint(const std::string& path) {
    return parse_sparse_checkpoint(st::File::read(path), path);
}

st::File to_file(const SparseCheckpoint& c) {
    st::File out = c.dense;
    out.metadata["format"] = kSparseFormat;
    for (auto& s : c.sparse) {
        ENSURE(!out.contains(s.name), "sparse checkpoint: tensor '", s.name, "' is both dense and sparse");
        const Csr& m = s.csr;
        nn::IntTensor crow(nn::Shape{m.rows + 1});
        for (size_t i = 0; i < m.row_ptr.size(); i++) crow.values[i] = m.row_ptr[i];
        out.put_int(s.name + kCrow, crow, st::DType::I32);
        st::Entry col;
        col.name = s.name + kCol;
        col.shape = {m.nnz()};
        if (s.compact && m.cols <= kCsr16MaxCols) {
            col.dtype = st::DType::U16;
            col.bytes.resize(size_t(m.nnz()) * 2);
            for (size_t j = 0; j < m.col_idx.size(); j++) {
                uint16_t v = uint16_t(m.col_idx[j]);
                std::memcpy(col.bytes.data() + 2 * j, &v, 2);
            }
        } else {
            col.dtype = st::DType::I32;
            col.bytes.resize(size_t(m.nnz()) * 4);
            if (m.nnz()) std::memcpy(col.bytes.data(), m.col_idx.data(), col.bytes.size());
        }
        out.put_raw(std::move(col));
        out.put(s.name + kValues, m.values);
        out.metadata[kShapeKey + s.name] = shape_text(s.shape);
    }
    return out;
}

void write_sparse_checkpoint(const std::string& path, const SparseCheckpoint& c) { to_file(c).write(path); }

SparseCheckpoint sparsify(const st::File& in, const std::string& what, const SparsifyOptions& options,
                          std::vector<SparsifyDecision>* report) {
    auto candidate = [&](const st::Entry* e) { return e && is_float(e->dtype) && e->shape.size() >= 2; };
    // The tensor a mask entry belongs to ("<base>" or PyTorch's "<base>_orig"), when it qualifies.
    auto owner_of_mask = [&](const st::Entry& m) -> const st::Entry* {
        if (!ends_with(m.name, "_mask")) return nullptr;
        std::string base = m.name.substr(0, m.name.size() - 5);
        for (const st::Entry* e : {in.find(base), in.find(base + "_orig")})
            if (candidate(e) && e->shape == m.shape) return e;
        return nullptr;
    };
    SparseCheckpoint c;
    c.dense.metadata = in.metadata;
    c.dense.metadata.erase("format");
    for (auto& e : in.entries()) {
        if (owner_of_mask(e)) continue;  // handled with its tensor
        if (!candidate(&e)) {
            c.dense.put_raw(e);
            continue;
        }
        SparsifyDecision d;
        std::string name = e.name;
        const st::Entry* mask = in.find(e.name + "_mask");
        if (ends_with(e.name, "_orig") && !mask) {
            name = e.name.substr(0, e.name.size() - 5);
            mask = in.find(name + "_mask");
        }
        if (mask && !(mask->shape == e.shape)) mask = nullptr;
        d.name = name;
        d.shape = nn::Shape(e.shape);
        d.from_mask = mask != nullptr;
        nn::Tensor w = in.tensor(e.name);
        nn::Tensor m = mask ? entry_as_tensor(in, *mask) : nn::Tensor();
        Csr csr = from_dense(w, m);
        d.nnz = csr.nnz();
        bool compact = options.index == IndexChoice::u16 ||
                       (options.index == IndexChoice::automatic && csr.cols <= kCsr16MaxCols);
        ENSURE(!compact || csr.cols <= kCsr16MaxCols, what, ": '", e.name, "' has ", csr.cols,
               " columns, too many for 16-bit indices");
        int64_t dense_bytes = w.numel() * 4;
        d.bytes_before = dense_bytes + (mask ? int64_t(mask->bytes.size()) : 0);
        int64_t sparse_bytes = compact ? csr16_bytes(csr.rows, csr.nnz()) : csr_bytes(csr.rows, csr.nnz());
        if (sparse_bytes < dense_bytes && (mask || csr.nnz() < w.numel())) {
            d.sparse = true;
            d.bytes_after = sparse_bytes;
            d.reason = nn::str_cat(compact ? "CSR16" : "CSR", mask ? " (pattern = mask)" : " (pattern = non-zeros)");
            c.sparse.push_back(SparseTensor{name, e.shape, std::move(csr), compact});
        } else {
            d.bytes_after = d.bytes_before;
            d.reason = csr.nnz() == w.numel() && !mask ? "no zeros: kept dense" : "CSR would not be smaller: kept dense";
            c.dense.put_raw(e);
            if (mask) c.dense.put_raw(*mask);
        }
        if (report) report->push_back(d);
    }
    return c;
}

st::File densify(const SparseCheckpoint& c) {
    st::File out = c.dense;
    out.metadata.erase("format");
    for (auto& s : c.sparse) out.put(s.name, expand(s));
    return out;
}

std::vector<LayerDecision> load_sparse_model(const SparseCheckpoint& c, nn::Module& model, const std::string& source,
                                             CompileOptions options) {
    nn::load_module(densify(c), model, source);
    for (auto& [name, mask] : c.masks()) options.masks.emplace(name, mask);
    return compile(model, options);
}

}  // namespace sparse
