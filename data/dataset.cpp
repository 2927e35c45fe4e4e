#include "data/dataset.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "data/idx.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"

#ifndef SECATEURS_DEFAULT_DATA_DIR
#define SECATEURS_DEFAULT_DATA_DIR "data/cache"
#endif

namespace data {

std::string data_dir() {
    const char* env = std::getenv("SECATEURS_DATA");
    return env && *env ? std::string(env) : std::string(SECATEURS_DEFAULT_DATA_DIR);
}

void ImageDataset::gather(const int64_t* idx, int64_t n, Batch& out, nn::Rng* rng) const {
    const nn::Shape& s = images.shape();
    int64_t C = s[1], H = s[2], W = s[3], per = C * H * W;
    out.x = nn::Tensor::empty({n, C, H, W});
    out.y = nn::IntTensor(nn::Shape{n});
    const float* src = images.data();
    float* dst = out.x.data();
    bool aug = rng && augment.enabled();
    for (int64_t b = 0; b < n; b++) {
        int64_t i = idx[b];
        ENSURE(i >= 0 && i < size(), name, ": example index ", i, " out of range (", size(), " examples)");
        out.y.values[size_t(b)] = labels[i];
        const float* img = src + i * per;
        float* o = dst + b * per;
        if (!aug) {
            std::memcpy(o, img, size_t(per) * sizeof(float));
            continue;
        }
        int p = augment.crop_padding;
        int64_t dy = p ? int64_t(rng->below(uint64_t(2 * p + 1))) - p : 0;
        int64_t dx = p ? int64_t(rng->below(uint64_t(2 * p + 1))) - p : 0;
        bool flip = augment.hflip && (rng->next_u64() & 1);
        // Pixels shifted in from outside are black (pad_value, the normalised value of 0).
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++) {
                    int64_t sy = y + dy, sx = flip ? (W - 1 - x) + dx : x + dx;
                    o[(c * H + y) * W + x] =
                        (sy >= 0 && sy < H && sx >= 0 && sx < W) ? img[(c * H + sy) * W + sx] : pad_value;
                }
    }
}

ImageDataset ImageDataset::subset(const std::vector<int64_t>& idx) const {
    ImageDataset d;
    d.classes = classes;
    d.name = name;
    d.augment = augment;
    d.pad_value = pad_value;
    Batch b;
    gather(idx.data(), int64_t(idx.size()), b, nullptr);
    d.images = b.x;
    d.labels = b.y;
    return d;
}

ImageDataset ImageDataset::head(int64_t n) const {
    ENSURE(n >= 0 && n <= size(), name, ": cannot take the first ", n, " of ", size(), " examples");
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) idx[size_t(i)] = i;
    return subset(idx);
}

ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path, int n_classes,
                              float mean, float std) {
    IdxArray im = read_idx(images_path);
    IdxArray lb = read_idx(labels_path);
    ENSURE(im.dims.size() == 3, images_path, ": expected an image file with 3 dimensions (N, H, W), got ",
           im.dims.size());
    ENSURE(lb.dims.size() == 1, labels_path, ": expected a label file with 1 dimension, got ", lb.dims.size());
    ENSURE(im.dims[0] == lb.dims[0], images_path, " holds ", im.dims[0], " images but ", labels_path, " holds ",
           lb.dims[0], " labels");
    ENSURE(std > 0.0f, "normalisation std must be positive");
    int64_t N = im.dims[0], H = im.dims[1], W = im.dims[2];
    ImageDataset d;
    d.classes = n_classes;
    d.name = images_path;
    d.images = nn::Tensor::empty({N, 1, H, W});
    d.labels = nn::IntTensor(nn::Shape{N});
    float* p = d.images.data();
    for (size_t i = 0; i < im.values.size(); i++) p[i] = (float(im.values[i]) / 255.0f - mean) / std;
    for (int64_t i = 0; i < N; i++) {
        int64_t l = lb.values[size_t(i)];
        ENSURE(l < n_classes, labels_path, ": label ", l, " of example ", i, " is outside [0, ", n_classes, ")");
        d.labels.values[size_t(i)] = l;
    }
    d.pad_value = (0.0f - mean) / std;
    return d;
}

ImageDataset load_fashion_mnist(const std::string& split) {
    ENSURE(split == "train" || split == "test", "Fashion-MNIST split must be 'train' or 'test', got '", split, "'");
    std::string dir = nn::io::join(data_dir(), "fashion-mnist");
    std::string prefix = split == "train" ? "train" : "t10k";
    std::string images = nn::io::join(dir, prefix + "-images-idx3-ubyte");
    std::string labels = nn::io::join(dir, prefix + "-labels-idx1-ubyte");
    for (const std::string& f : {images, labels})
        ENSURE(nn::io::exists(f), f, ": not found; run `make data` to prepare Fashion-MNIST (from the Debian "
               "package dataset-fashion-mnist), or set SECATEURS_DATA to the prepared data directory");
    ImageDataset d = load_idx_dataset(images, labels, 10, 0.2860f, 0.3530f);
    d.name = "fashion-mnist/" + split;
    return d;
}

std::pair<ImageDataset, ImageDataset> split_validation(const ImageDataset& train, int64_t n_val, uint64_t seed) {
    ENSURE(n_val >= 0 && n_val < train.size(), "validation size ", n_val, " must be in [0, ", train.size(), ")");
    std::vector<int64_t> perm = nn::Rng(seed).permutation(train.size());
    std::vector<int64_t> tr(perm.begin(), perm.end() - n_val), va(perm.end() - n_val, perm.end());
    ImageDataset a = train.subset(tr), b = train.subset(va);
    a.name = train.name + "[train]";
    b.name = train.name + "[val]";
    b.augment = Augment{};
    return {a, b};
}

DataLoader::DataLoader(const Dataset& ds, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last,
                       int64_t bucket_batches)
    : ds_(ds), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), bucket_batches_(bucket_batches),
      seed_(seed) {
    ENSURE(batch_size > 0, "batch size must be positive, got ", batch_size);
    ENSURE(bucket_batches >= 0, "bucket_batches must be >= 0, got ", bucket_batches);
    set_epoch(0);
}

void DataLoader::set_epoch(int64_t epoch) {
    epoch_ = epoch;
    if (shuffle_) {
        order_ = nn::Rng(seed_).fork(uint64_t(epoch)).permutation(ds_.size());
    } else {
        order_.resize(size_t(ds_.size()));
        for (int64_t i = 0; i < ds_.size(); i++) order_[size_t(i)] = i;
    }
    if (bucket_batches_ == 0) return;
    const int64_t n = int64_t(order_.size()), window = bucket_batches_ * batch_size_;
    for (int64_t w = 0; w < n; w += window) {
        auto first = order_.begin() + w, last = order_.begin() + std::min(n, w + window);
        std::stable_sort(first, last, [&](int64_t a, int64_t b) { return ds_.length(a) < ds_.length(b); });
    }
    if (!shuffle_) return;
    // Shuffle whole batches; a final partial batch stays last so every batch keeps its size.
    int64_t n_full = n / batch_size_;
    std::vector<int64_t> perm = nn::Rng(seed_ ^ 0x5bd1e995ULL).fork(uint64_t(epoch)).permutation(n_full);
    std::vector<int64_t> shuffled;
    shuffled.reserve(order_.size());
    for (int64_t b : perm) shuffled.insert(shuffled.end(), order_.begin() + b * batch_size_, order_.begin() + (b + 1) * batch_size_);
    shuffled.insert(shuffled.end(), order_.begin() + n_full * batch_size_, order_.end());
    order_ = std::move(shuffled);
}

int64_t DataLoader::n_batches() const {
    int64_t n = ds_.size();
    return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

Batch DataLoader::batch(int64_t i, bool train) const {
    ENSURE(i >= 0 && i < n_batches(), "batch ", i, " out of range (", n_batches(), " batches)");
    int64_t begin = i * batch_size_, end = std::min<int64_t>(begin + batch_size_, ds_.size());
    Batch b;
    nn::Rng rng = nn::Rng(seed_ ^ 0xa5a5a5a5ULL).fork(uint64_t(epoch_) * 1000003ULL + uint64_t(i));
    ds_.gather(order_.data() + begin, end - begin, b, train ? &rng : nullptr);
    return b;
}

}  // namespace data
