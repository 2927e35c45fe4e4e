// safetensors files (https://github.com/huggingface/safetensors), read and written by hand.
// Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets},
// "__metadata__": {string: string}}, then the tensor bytes. The reader validates like the reference
// implementation: header length capped (100 MB) and inside the file, header starts with '{', JSON
// well formed, metadata a string map, known dtypes, shapes non-negative with overflow-checked sizes,
// byte ranges contiguous from 0 with no gap or overlap, each range exactly numel * dtype size, and
// the last range ending exactly at the end of the file. Any violation is one error naming the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/tensor.hpp"

namespace nn::st {

enum class DType { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 };
const char* dtype_name(DType d);
size_t dtype_size(DType d);

struct Entry {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
    int64_t numel() const;
};

class File {
public:
    static File read(const std::string& path);
    // Parses an in-memory image; `what` names it in errors (the path, or "<fuzz input>").
    static File parse(const uint8_t* data, size_t n, const std::string& what);

    std::vector<uint8_t> serialize() const;
    void write(const std::string& path) const;  // atomic (io::write_file_atomic)

    const Entry* find(const std::string& name) const;
    bool contains(const std::string& name) const { return find(name) != nullptr; }
    const std::vector<Entry>& entries() const { return entries_; }

    // F32 values as a tensor (F64, F16 and BF16 are converted); throws naming the entry otherwise.
    Tensor tensor(const std::string& name) const;
    // Integer values (I64, I32, U8, BOOL, ...) as an IntTensor.
    IntTensor int_tensor(const std::string& name) const;

    // Adds or replaces an entry (F32 from a tensor, I64 from an IntTensor, or raw bytes).
    void put(const std::string& name, const Tensor& t);
    void put_int(const std::string& name, const IntTensor& t, DType dtype = DType::I64);
    void put_raw(Entry e);
    void remove(const std::string& name);

    std::map<std::string, std::string> metadata;

private:
    std::vector<Entry> entries_;
};

}  // namespace nn::st
