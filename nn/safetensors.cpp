#include "nn/safetensors.hpp"

#include <algorithm>
#include <cstring>

#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/json.hpp"

namespace nn::st {

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's cap

struct DTypeInfo {
    DType d;
    const char* name;
    size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},     {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},   {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},   {DType::F32, "F32", 4},   {DType::I64, "I64", 8},   {DType::U64, "U64", 8},
    {DType::F64, "F64", 8},
};

bool parse_dtype(const std::string& s, DType& out) {
    for (auto& i : kDTypes)
        if (s == i.name) {
            out = i.d;
            return true;
        }
    return false;
}

float half_to_float(uint16_t h) {
    uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: renormalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

template <class T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

const char* dtype_name(DType d) {
    for (auto& i : kDTypes)
        if (i.d == d) return i.name;
    return "?";
}

size_t dtype_size(DType d) {
    for (auto& i : kDTypes)
        if (i.d == d) return i.size;
    return 0;
}

int64_t Entry::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

File File::read(const std::string& path) {
    std::vector<uint8_t> data = io::read_file(path);
    return parse(data.data(), data.size(), path);
}

File File::parse(const uint8_t* data, size_t n, const std::string& what) {
    ENSURE(n >= 8, what, ": not a safetensors file: ", n, " bytes is shorter than the 8-byte header length");
    uint64_t header_len = load<uint64_t>(data);
    ENSURE(header_len <= kMaxHeader, what, ": safetensors header length ", header_len, " exceeds the ",
           kMaxHeader, "-byte limit (corrupt or not a safetensors file)");
    ENSURE(header_len <= n - 8, what, ": safetensors header length ", header_len, " runs past the end of the ",
           n, "-byte file (truncated?)");
    std::string_view header(reinterpret_cast<const char*>(data + 8), size_t(header_len));
    ENSURE(!header.empty() && header[0] == '{', what, ": safetensors header does not start with '{'");
    json::Value root = json::parse(header, what + " (safetensors header)");
    ENSURE(root.is_object(), what, ": safetensors header is not a JSON object");

    File f;
    struct Span {
        uint64_t begin, end;
        size_t index;
    };
    std::vector<Span> spans;
    for (auto& [name, v] : root.members) {
        if (name == "__metadata__") {
            ENSURE(v.is_object(), what, ": __metadata__ must be an object of strings");
            for (auto& [k, mv] : v.members) {
                ENSURE(mv.is_string(), what, ": __metadata__ value for '", k, "' is not a string");
                f.metadata[k] = mv.text;
            }
            continue;
        }
        ENSURE(v.is_object(), what, ": entry '", name, "' is not an object");
        const json::Value* dt = v.find("dtype");
        const json::Value* shape = v.find("shape");
        const json::Value* offs = v.find("data_offsets");
        ENSURE(dt && dt->is_string(), what, ": tensor '", name, "' has no string dtype");
        ENSURE(shape && shape->is_array(), what, ": tensor '", name, "' has no shape array");
        ENSURE(offs && offs->is_array() && offs->items.size() == 2, what, ": tensor '", name,
               "' needs data_offsets [begin, end]");
        for (auto& [k, unused] : v.members)
            ENSURE(k == "dtype" || k == "shape" || k == "data_offsets", what, ": tensor '", name,
                   "' has unknown field '", k, "'");
        Entry e;
        e.name = name;
        ENSURE(parse_dtype(dt->text, e.dtype), what, ": tensor '", name, "' has unknown dtype '", dt->text, "'");
        uint64_t numel = 1;
        for (auto& d : shape->items) {
            uint64_t extent;
            ENSURE(d.as_u64(extent) && extent <= uint64_t(INT64_MAX), what, ": tensor '", name,
                   "' has an invalid extent '", d.text, "' in its shape");
            ENSURE(extent == 0 || numel <= UINT64_MAX / extent, what, ": tensor '", name,
                   "' shape overflows 64 bits");
            numel *= extent;
            e.shape.push_back(int64_t(extent));
        }
        size_t es = dtype_size(e.dtype);
        ENSURE(numel <= UINT64_MAX / es, what, ": tensor '", name, "' byte size overflows 64 bits");
        uint64_t begin, end;
        ENSURE(offs->items[0].as_u64(begin) && offs->items[1].as_u64(end), what, ": tensor '", name,
               "' has non-integer data_offsets");
        ENSURE(end >= begin, what, ": tensor '", name, "' has data_offsets [", begin, ", ", end, "] with end < begin");
        ENSURE(end - begin == numel * es, what, ": tensor '", name, "' data_offsets cover ", end - begin,
               " bytes but ", dtype_name(e.dtype), " of ", numel, " elements needs ", numel * es);
        spans.push_back({begin, end, f.entries_.size()});
        f.entries_.push_back(std::move(e));
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t expected = 0;
    uint64_t data_len = n - 8 - header_len;
    for (auto& s : spans) {
        const std::string& name = f.entries_[s.index].name;
        ENSURE(s.begin == expected, what, ": tensor '", name, "' starts at byte ", s.begin, " of the data but ",
               s.begin < expected ? "overlaps the previous tensor" : "leaves a gap after the previous tensor",
               " (expected ", expected, ")");
        ENSURE(s.end <= data_len, what, ": tensor '", name, "' ends at byte ", s.end, " beyond the ", data_len,
               " data bytes (truncated file?)");
        expected = s.end;
    }
    ENSURE(expected == data_len, what, ": ", data_len - expected, " trailing bytes after the last tensor");
    const uint8_t* base = data + 8 + header_len;
    for (auto& s : spans) f.entries_[s.index].bytes.assign(base + s.begin, base + s.end);
    return f;
}

std::vector<uint8_t> File::serialize() const {
    // NOTE: built with append rather than "literal" + std::string, which trips a false -Wrestrict
    // in g++ 12 (GCC bug 105651).
    std::string header = "{";
    auto sep = [&] {
        if (header.size() > 1) header += ',';
    };
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        bool first = true;
        for (auto& [k, v] : metadata) {
            if (!first) header += ',';
            first = false;
            header.append(json::quote(k)).append(":").append(json::quote(v));
        }
        header += '}';
    }
    uint64_t offset = 0;
    for (auto& e : entries_) {
        sep();
        header.append(json::quote(e.name)).append(":{\"dtype\":\"").append(dtype_name(e.dtype)).append("\",\"shape\":[");
        for (size_t i = 0; i < e.shape.size(); i++) {
            if (i) header += ',';
            header += std::to_string(e.shape[i]);
        }
        header.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
        offset += e.bytes.size();
        header.append(std::to_string(offset)).append("]}");
    }
    header += '}';
    while ((8 + header.size()) % 8 != 0) header += ' ';  // the reference pads to 8-byte alignment
    std::vector<uint8_t> out(8 + header.size() + offset);
    uint64_t len = header.size();
    std::memcpy(out.data(), &len, 8);
    std::memcpy(out.data() + 8, header.data(), header.size());
    uint8_t* p = out.data() + 8 + header.size();
    for (auto& e : entries_) {
        if (!e.bytes.empty()) std::memcpy(p, e.bytes.data(), e.bytes.size());
        p += e.bytes.size();
    }
    return out;
}

void File::write(const std::string& path) const {
    std::vector<uint8_t> bytes = serialize();
    io::write_file_atomic(path, bytes.data(), bytes.size());
}

const Entry* File::find(const std::string& name) const {
    for (auto& e : entries_)
        if (e.name == name) return &e;
    return nullptr;
}

Tensor File::tensor(const std::string& name) const {
    const Entry* e = find(name);
    ENSURE(e, "no tensor named '", name, "' in the file");
    ENSURE(e->shape.size() <= size_t(kMaxDims), "tensor '", name, "' has ", e->shape.size(), " dimensions (max ",
           kMaxDims, ")");
    Tensor t = Tensor::empty(Shape(e->shape));
    float* out = t.data();
    int64_t n = e->numel();
    const uint8_t* p = e->bytes.data();
    switch (e->dtype) {
        case DType::F32: if (n) std::memcpy(out, p, size_t(n) * 4); break;
        case DType::F64: for (int64_t i = 0; i < n; i++) out[i] = float(load<double>(p + 8 * i)); break;
        case DType::F16: for (int64_t i = 0; i < n; i++) out[i] = half_to_float(load<uint16_t>(p + 2 * i)); break;
        case DType::BF16:
            for (int64_t i = 0; i < n; i++) {
                uint32_t bits = uint32_t(load<uint16_t>(p + 2 * i)) << 16;
                std::memcpy(out + i, &bits, 4);
            }
            break;
        default: RAISE("tensor '", name, "' has dtype ", dtype_name(e->dtype), ", expected a floating-point dtype");
    }
    return t;
}

IntTensor File::int_tensor(const std::string& name) const {
    const Entry* e = find(name);
    ENSURE(e, "no tensor named '", name, "' in the file");
    ENSURE(e->shape.size() <= size_t(kMaxDims), "tensor '", name, "' has too many dimensions");
    IntTensor t(Shape(e->shape));
    int64_t n = e->numel();
    const uint8_t* p = e->bytes.data();
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        switch (e->dtype) {
            case DType::BOOL:
            case DType::U8: v = p[i]; break;
            case DType::I8: v = int8_t(p[i]); break;
            case DType::I16: v = load<int16_t>(p + 2 * i); break;
            case DType::U16: v = load<uint16_t>(p + 2 * i); break;
            case DType::I32: v = load<int32_t>(p + 4 * i); break;
            case DType::U32: v = load<uint32_t>(p + 4 * i); break;
            case DType::I64: v = load<int64_t>(p + 8 * i); break;
            case DType::U64: v = int64_t(load<uint64_t>(p + 8 * i)); break;
            default: RAISE("tensor '", name, "' has dtype ", dtype_name(e->dtype), ", expected an integer dtype");
        }
        t.values[size_t(i)] = v;
    }
    return t;
}

void File::put_raw(Entry e) {
    ENSURE(e.bytes.size() == size_t(e.numel()) * dtype_size(e.dtype), "put_raw: '", e.name, "' has ",
           e.bytes.size(), " bytes for ", e.numel(), " elements of ", dtype_name(e.dtype));
    for (auto& x : entries_)
        if (x.name == e.name) {
            x = std::move(e);
            return;
        }
    entries_.push_back(std::move(e));
}

void File::put(const std::string& name, const Tensor& t) {
    Tensor c = t.detach().contiguous();
    Entry e;
    e.name = name;
    e.dtype = DType::F32;
    e.shape = c.shape().vec();
    e.bytes.resize(size_t(c.numel()) * 4);
    if (c.numel()) std::memcpy(e.bytes.data(), c.data(), e.bytes.size());
    put_raw(std::move(e));
}

void File::put_int(const std::string& name, const IntTensor& t, DType dtype) {
    Entry e;
    e.name = name;
    e.dtype = dtype;
    e.shape = t.shape.vec();
    size_t es = dtype_size(dtype);
    e.bytes.resize(size_t(t.numel()) * es);
    for (int64_t i = 0; i < t.numel(); i++) {
        int64_t v = t[i];
        switch (dtype) {
            case DType::I64: std::memcpy(&e.bytes[size_t(i) * 8], &v, 8); break;
            case DType::I32: {
                int32_t w = int32_t(v);
                ENSURE(w == v, "put_int: value ", v, " of '", name, "' does not fit in I32");
                std::memcpy(&e.bytes[size_t(i) * 4], &w, 4);
                break;
            }
            case DType::U8:
            case DType::BOOL:
                ENSURE(v >= 0 && v <= 255, "put_int: value ", v, " of '", name, "' does not fit in a byte");
                e.bytes[size_t(i)] = uint8_t(v);
                break;
            default: RAISE("put_int: unsupported dtype ", dtype_name(dtype));
        }
    }
    put_raw(std::move(e));
}

void File::remove(const std::string& name) {
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; }),
                   entries_.end());
}

}  // namespace nn::st
