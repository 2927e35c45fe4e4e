// CIFAR-10 binary batches (the "binary version" of https://www.cs.toronto.edu/~kriz/cifar.html):
// data_batch_1.bin .. data_batch_5.bin (training, 50k) and test_batch.bin (10k), each a plain run of
// 3073-byte records: one label byte (0-9), then 3072 pixel bytes, the red, green and blue 32x32
// planes in row-major order. There is no header or magic, so a file is checked by its size (a whole
// number of records), its labels, and by recognising what it is instead (the gzip or tar archive the
// data is distributed as, CIFAR-100's 3074-byte records). Each problem is one error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace data {

constexpr int64_t kCifarRecordBytes = 3073;  // 1 label + 3 * 32 * 32 pixels

struct CifarBatch {
    int64_t n = 0;                 // records
    std::vector<uint8_t> labels;   // [n], each < 10
    std::vector<uint8_t> pixels;   // [n, 3, 32, 32]
};

// Parses an in-memory batch file; `what` names it in errors.
CifarBatch parse_cifar10(const uint8_t* data, size_t n, const std::string& what);
CifarBatch read_cifar10(const std::string& path);

// The records of several batch files in order, as [N, 3, 32, 32] images normalised (v/255-mean)/std.
// One mean and std for all three channels keeps the crop padding value a single number.
ImageDataset load_cifar10_files(const std::vector<std::string>& paths, float mean = 0.4734f, float std = 0.2516f);

// CIFAR-10 from <data dir>/cifar-10-batches-bin, split "train" (the five data batches) or "test".
// CIFAR-10 is not packaged by Debian: a missing file says where to get it and where to put it.
ImageDataset load_cifar10(const std::string& split);

}  // namespace data
