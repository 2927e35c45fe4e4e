// Datasets for classification and the loader that batches them. A Dataset is random access; the
// DataLoader's order for an epoch is a pure function of (seed, epoch), so a run can resume at any
// batch and reproduce the same stream. Images are kept in memory as normalised float tensors.
// Text corpora and MLM batching live in data/text.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/rng.hpp"
#include "nn/tensor.hpp"

namespace data {

struct Batch {
    nn::Tensor x;       // inputs, batch first (images)
    nn::IntTensor ids;  // token ids [B, T] (text; x is then undefined)
    nn::IntTensor y;    // class ids [B] (or per-token targets, see data/text.hpp)
};

class Dataset {
public:
    virtual ~Dataset() = default;
    virtual int64_t size() const = 0;
    virtual int n_classes() const = 0;
    // Fills `out` with examples idx[0..n). `rng` is non-null when training-time augmentation applies.
    virtual void gather(const int64_t* idx, int64_t n, Batch& out, nn::Rng* rng) const = 0;
    // Size of example i for length bucketing (text); 0 when examples all cost the same.
    virtual int64_t length(int64_t) const { return 0; }
};

// Random-crop-with-padding and horizontal-flip augmentation (off by default).
struct Augment {
    int crop_padding = 0;  // pad by this many zero pixels, then crop back at a random offset
    bool hflip = false;    // mirror left-right with probability 1/2
    bool enabled() const { return crop_padding > 0 || hflip; }
};

class ImageDataset : public Dataset {
public:
    nn::Tensor images;    // [N, C, H, W], normalised
    nn::IntTensor labels; // [N]
    int classes = 10;
    std::string name;
    Augment augment;
    float pad_value = 0.0f;  // normalised value of a black pixel, used by crop padding

    int64_t size() const override { return labels.numel(); }
    int n_classes() const override { return classes; }
    void gather(const int64_t* idx, int64_t n, Batch& out, nn::Rng* rng) const override;
    ImageDataset subset(const std::vector<int64_t>& idx) const;
    ImageDataset head(int64_t n) const;  // the first n examples (0 <= n <= size())
};

// Directory of prepared data: $SECATEURS_DATA if set, else the repository's data/cache.
std::string data_dir();

// Reads an IDX image file and label file into an ImageDataset ([N,1,H,W], values (v/255-mean)/std).
// Labels must be < n_classes; counts must agree. Errors name the file.
ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path, int n_classes,
                              float mean, float std);

// Fashion-MNIST from the data cache, split "train" (60k) or "test" (10k), normalised with the training
// set's mean and std (0.2860, 0.3530). A missing file says to run `make data`.
ImageDataset load_fashion_mnist(const std::string& split);

// Holds out n_val examples of `train` as a validation set, chosen by a seeded permutation.
std::pair<ImageDataset, ImageDataset> split_validation(const ImageDataset& train, int64_t n_val, uint64_t seed);

// With bucket_batches > 0, each window of bucket_batches * batch_size examples of the epoch's order is
// sorted by Dataset::length, and (when shuffling) the order of the full batches is then shuffled:
// batches of similar lengths waste little padding, and the order is still a function of (seed, epoch).
class DataLoader {
public:
    DataLoader(const Dataset& ds, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last = false,
               int64_t bucket_batches = 0);
    void set_epoch(int64_t epoch);
    int64_t n_batches() const;
    // Batch i of the current epoch; augmentation (if the dataset has it and `train`) is seeded by
    // (seed, epoch, i), so any batch can be reproduced on its own.
    Batch batch(int64_t i, bool train = false) const;
    const Dataset& dataset() const { return ds_; }
    int64_t batch_size() const { return batch_size_; }

private:
    const Dataset& ds_;
    int64_t batch_size_;
    bool shuffle_, drop_last_;
    int64_t bucket_batches_;
    uint64_t seed_;
    int64_t epoch_ = 0;
    std::vector<int64_t> order_;
};

}  // namespace data
