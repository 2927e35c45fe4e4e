#include "data/cifar.hpp"

#include <cstring>

#include "nn/check.hpp"
#include "nn/io.hpp"

namespace data {

CifarBatch parse_cifar10(const uint8_t* p, size_t n, const std::string& what) {
    ENSURE(!(n >= 2 && p[0] == 0x1f && p[1] == 0x8b), what,
           ": gzip-compressed; CIFAR-10 is distributed as cifar-10-binary.tar.gz: extract it (tar xzf) and use the "
           ".bin files in cifar-10-batches-bin/");
    ENSURE(!(n >= 262 && std::memcmp(p + 257, "ustar", 5) == 0), what,
           ": a tar archive; extract it (tar xf) and use the .bin files in cifar-10-batches-bin/");
    ENSURE(n > 0, what, ": empty file; a CIFAR-10 batch holds 3073-byte records");
    const size_t rec = size_t(kCifarRecordBytes);
    if (n % rec != 0) {
        ENSURE(n % (rec + 1) != 0, what, ": ", n, " bytes is a whole number of 3074-byte records, the CIFAR-100 "
               "layout (coarse and fine label bytes); only CIFAR-10 batches (3073-byte records) are supported");
        RAISE(what, ": ", n, " bytes is not a whole number of 3073-byte CIFAR-10 records (", n / rec,
              " records and ", n % rec, " bytes over: truncated or not a CIFAR-10 batch)");
    }
    CifarBatch b;
    b.n = int64_t(n / rec);
    b.labels.resize(size_t(b.n));
    b.pixels.resize(size_t(b.n) * (rec - 1));
    for (int64_t i = 0; i < b.n; i++) {
        const uint8_t* r = p + size_t(i) * rec;
        ENSURE(r[0] < 10, what, ": label ", int(r[0]), " of record ", i, " (byte offset ", size_t(i) * rec,
               ") is outside [0, 10); is this a CIFAR-10 batch?");
        b.labels[size_t(i)] = r[0];
        std::memcpy(b.pixels.data() + size_t(i) * (rec - 1), r + 1, rec - 1);
    }
    return b;
}

CifarBatch read_cifar10(const std::string& path) {
    std::vector<uint8_t> bytes = nn::io::read_file(path);
    return parse_cifar10(bytes.data(), bytes.size(), path);
}

ImageDataset load_cifar10_files(const std::vector<std::string>& paths, float mean, float std) {
    ENSURE(!paths.empty(), "load_cifar10_files: no batch files given");
    ENSURE(std > 0.0f, "normalisation std must be positive");
    std::vector<CifarBatch> batches;
    int64_t N = 0;
    for (auto& path : paths) {
        batches.push_back(read_cifar10(path));
        N += batches.back().n;
    }
    ImageDataset d;
    d.classes = 10;
    d.name = paths.size() == 1 ? paths[0] : paths[0] + " (+" + std::to_string(paths.size() - 1) + " more)";
    d.images = nn::Tensor::empty({N, 3, 32, 32});
    d.labels = nn::IntTensor(nn::Shape{N});
    float* out = d.images.data();
    int64_t at = 0;
    for (auto& b : batches) {
        for (size_t i = 0; i < b.pixels.size(); i++) *out++ = (float(b.pixels[i]) / 255.0f - mean) / std;
        for (int64_t i = 0; i < b.n; i++) d.labels.values[size_t(at + i)] = b.labels[size_t(i)];
        at += b.n;
    }
    d.pad_value = (0.0f - mean) / std;
    return d;
}

ImageDataset load_cifar10(const std::string& split) {
    ENSURE(split == "train" || split == "test", "CIFAR-10 split must be 'train' or 'test', got '", split, "'");
    std::string dir = nn::io::join(data_dir(), "cifar-10-batches-bin");
    std::vector<std::string> paths;
    if (split == "train")
        for (int i = 1; i <= 5; i++) paths.push_back(nn::io::join(dir, "data_batch_" + std::to_string(i) + ".bin"));
    else
        paths.push_back(nn::io::join(dir, "test_batch.bin"));
    for (auto& f : paths)
        ENSURE(nn::io::exists(f), f, ": not found; CIFAR-10 is not shipped by Debian: get cifar-10-binary.tar.gz "
               "(https://www.cs.toronto.edu/~kriz/cifar.html) and extract it into ", data_dir(),
               " (or set SECATEURS_DATA to the directory that holds cifar-10-batches-bin/)");
    ImageDataset d = load_cifar10_files(paths);
    d.name = "cifar-10/" + split;
    return d;
}

}  // namespace data
