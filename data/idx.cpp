#include "data/idx.hpp"

#include "nn/check.hpp"
#include "nn/io.hpp"

namespace data {

IdxArray parse_idx(const uint8_t* p, size_t n, const std::string& what) {
    ENSURE(!(n >= 2 && p[0] == 0x1f && p[1] == 0x8b), what,
           ": gzip-compressed IDX file; run `make data` to prepare decompressed copies (or gunzip it)");
    ENSURE(n >= 4, what, ": file of ", n, " bytes is too short for an IDX header");
    ENSURE(p[0] == 0 && p[1] == 0, what, ": bad IDX magic ", int(p[0]), ",", int(p[1]),
           " (expected 0,0; is this an IDX file?)");
    ENSURE(p[2] == 0x08, what, ": unsupported IDX value type 0x", std::hex, int(p[2]), std::dec,
           " (only unsigned bytes, 0x08, are supported)");
    int nd = p[3];
    ENSURE(nd >= 1 && nd <= 4, what, ": IDX file declares ", nd, " dimensions (expected 1 to 4)");
    ENSURE(n >= 4 + 4 * size_t(nd), what, ": truncated IDX header (", n, " bytes for ", nd, " dimensions)");
    IdxArray a;
    uint64_t total = 1;
    for (int i = 0; i < nd; i++) {
        const uint8_t* q = p + 4 + 4 * i;
        uint64_t d = (uint64_t(q[0]) << 24) | (uint64_t(q[1]) << 16) | (uint64_t(q[2]) << 8) | q[3];
        ENSURE(d == 0 || total <= (uint64_t(1) << 40) / d, what, ": IDX extents overflow (dimension ", i, " = ", d, ")");
        total *= d;
        a.dims.push_back(int64_t(d));
    }
    size_t header = 4 + 4 * size_t(nd);
    ENSURE(n - header == total, what, ": IDX header promises ", total, " values but the file holds ", n - header,
           n - header < total ? " (truncated file)" : " (trailing bytes)");
    a.values.assign(p + header, p + n);
    return a;
}

IdxArray read_idx(const std::string& path) {
    std::vector<uint8_t> bytes = nn::io::read_file(path);
    return parse_idx(bytes.data(), bytes.size(), path);
}

}  // namespace data
