// IDX files (LeCun's MNIST format, also Fashion-MNIST, Kuzushiji-MNIST, EMNIST): a 4-byte magic
// (0, 0, type code, number of dimensions), big-endian u32 extents, then the raw values. We read the
// unsigned-byte type (0x08), which all these datasets use. Every malformed input is one error naming
// the file: gzip instead of raw, bad magic, unsupported type, extents that overflow or disagree with
// the file size, image/label counts that disagree, labels outside the class range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace data {

struct IdxArray {
    std::vector<int64_t> dims;   // e.g. {60000, 28, 28}
    std::vector<uint8_t> values; // row-major, dims product bytes
};

IdxArray read_idx(const std::string& path);
// Parses an in-memory image; `what` names it in errors.
IdxArray parse_idx(const uint8_t* data, size_t n, const std::string& what);

}  // namespace data
