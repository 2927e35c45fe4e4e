// IDX and CIFAR-10 readers (one test per bad input), datasets, the loader's determinism, and the
// real Fashion-MNIST files when `make data` has prepared them.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/cifar.hpp"
#include "data/dataset.hpp"
#include "data/idx.hpp"
#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"

namespace {

std::vector<uint8_t> idx_bytes(uint8_t type, std::vector<uint32_t> dims, size_t n_values, uint8_t fill = 0) {
    std::vector<uint8_t> b = {0, 0, type, uint8_t(dims.size())};
    for (uint32_t d : dims) {
        b.push_back(uint8_t(d >> 24));
        b.push_back(uint8_t(d >> 16));
        b.push_back(uint8_t(d >> 8));
        b.push_back(uint8_t(d));
    }
    b.resize(b.size() + n_values, fill);
    return b;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) { nn::io::write_file_atomic(path, b.data(), b.size()); }

void require_rejected(const std::vector<uint8_t>& b, const std::string& expected) {
    REQUIRE_THROWS_WITH(data::parse_idx(b.data(), b.size(), "bad-idx"), Catch::Contains("bad-idx") && Catch::Contains(expected));
}

}  // namespace

TEST_CASE("idx: a well-formed file", "[data][idx]") {
    auto b = idx_bytes(0x08, {2, 3, 4}, 24, 7);
    data::IdxArray a = data::parse_idx(b.data(), b.size(), "ok");
    REQUIRE(a.dims == std::vector<int64_t>{2, 3, 4});
    REQUIRE(a.values.size() == 24);
    REQUIRE(a.values[23] == 7);
}

TEST_CASE("idx: bad inputs each get one clear error", "[data][idx][bad-input]") {
    SECTION("gzip instead of raw") { require_rejected({0x1f, 0x8b, 8, 0, 0, 0}, "run `make data`"); }
    SECTION("wrong magic") {
        auto b = idx_bytes(0x08, {2}, 2);
        b[0] = 0x50;
        require_rejected(b, "bad IDX magic");
    }
    SECTION("unsupported value type") { require_rejected(idx_bytes(0x0D, {2}, 8), "unsupported IDX value type 0xd"); }
    SECTION("zero dimensions") { require_rejected(idx_bytes(0x08, {}, 0), "declares 0 dimensions"); }
    SECTION("truncated header") { require_rejected({0, 0, 8, 3, 0, 0}, "truncated IDX header"); }
    SECTION("truncated data") { require_rejected(idx_bytes(0x08, {10, 28, 28}, 100), "truncated file"); }
    SECTION("trailing bytes") { require_rejected(idx_bytes(0x08, {2, 2}, 5), "trailing bytes"); }
    SECTION("dimension overflow") { require_rejected(idx_bytes(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, 0), "overflow"); }
    SECTION("too short") { require_rejected({0, 0}, "too short"); }
}

TEST_CASE("idx datasets: counts must agree, labels in range, missing files named", "[data][idx][bad-input]") {
    write_bytes("t-images", idx_bytes(0x08, {3, 2, 2}, 12, 255));
    write_bytes("t-labels", {0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 9});
    data::ImageDataset d = data::load_idx_dataset("t-images", "t-labels", 10, 0.5f, 0.5f);
    REQUIRE(d.size() == 3);
    REQUIRE(d.images.shape() == nn::Shape{3, 1, 2, 2});
    REQUIRE(d.images.data()[0] == Approx(1.0f));  // (255/255 - 0.5) / 0.5
    REQUIRE(d.labels.values == std::vector<int64_t>{0, 1, 9});

    write_bytes("t-labels-short", {0, 0, 8, 1, 0, 0, 0, 2, 0, 1});
    REQUIRE_THROWS_WITH(data::load_idx_dataset("t-images", "t-labels-short", 10, 0.5f, 0.5f),
                        Catch::Contains("holds 3 images") && Catch::Contains("holds 2 labels"));
    write_bytes("t-labels-range", {0, 0, 8, 1, 0, 0, 0, 3, 0, 1, 10});
    REQUIRE_THROWS_WITH(data::load_idx_dataset("t-images", "t-labels-range", 10, 0.5f, 0.5f),
                        Catch::Contains("t-labels-range") && Catch::Contains("label 10 of example 2"));
    REQUIRE_THROWS_WITH(data::load_idx_dataset("t-labels", "t-labels", 10, 0.5f, 0.5f),
                        Catch::Contains("expected an image file with 3 dimensions"));
    REQUIRE_THROWS_WITH(data::load_idx_dataset("no-such-file", "t-labels", 10, 0.5f, 0.5f),
                        Catch::Contains("no-such-file") && Catch::Contains("cannot open"));
    for (const char* f : {"t-images", "t-labels", "t-labels-short", "t-labels-range"}) std::remove(f);
}

TEST_CASE("data loader: seeded per-epoch order, full coverage, reproducible augmentation", "[data]") {
    data::ImageDataset d;
    d.images = testing::randn({10, 1, 4, 4}, 1);
    d.labels = nn::IntTensor(nn::Shape{10});
    for (int i = 0; i < 10; i++) d.labels.values[size_t(i)] = i;
    data::DataLoader a(d, 3, true, 42), b(d, 3, true, 42);
    REQUIRE(a.n_batches() == 4);
    std::set<int64_t> seen;
    std::vector<int64_t> epoch0;
    for (int64_t i = 0; i < a.n_batches(); i++) {
        auto ba = a.batch(i), bb = b.batch(i);
        REQUIRE(ba.y.values == bb.y.values);
        for (auto v : ba.y.values) {
            seen.insert(v);
            epoch0.push_back(v);
        }
    }
    REQUIRE(seen.size() == 10);
    a.set_epoch(1);
    std::vector<int64_t> epoch1;
    for (int64_t i = 0; i < a.n_batches(); i++)
        for (auto v : a.batch(i).y.values) epoch1.push_back(v);
    REQUIRE(epoch0 != epoch1);
    data::DataLoader dl(d, 3, true, 42, true);
    REQUIRE(dl.n_batches() == 3);

    d.augment.crop_padding = 1;
    d.augment.hflip = true;
    data::DataLoader c(d, 5, true, 7), e(d, 5, true, 7);
    auto x1 = c.batch(1, true).x.to_vector(), x2 = e.batch(1, true).x.to_vector();
    REQUIRE(x1 == x2);
    REQUIRE(c.batch(1, false).x.to_vector() != x1);  // augmentation changed something
}

TEST_CASE("validation split: disjoint and complete", "[data]") {
    data::ImageDataset d;
    d.images = nn::Tensor::empty({20, 1, 1, 1});
    d.labels = nn::IntTensor(nn::Shape{20});
    for (int i = 0; i < 20; i++) {
        d.images.data()[i] = float(i);
        d.labels.values[size_t(i)] = i % 10;
    }
    auto [tr, va] = data::split_validation(d, 5, 1);
    REQUIRE(tr.size() == 15);
    REQUIRE(va.size() == 5);
    std::set<float> all;
    for (int64_t i = 0; i < 15; i++) all.insert(tr.images.data()[i]);
    for (int64_t i = 0; i < 5; i++) all.insert(va.images.data()[i]);
    REQUIRE(all.size() == 20);
    REQUIRE_THROWS_AS(data::split_validation(d, 20, 1), nn::Error);
}

TEST_CASE("fashion-mnist: the prepared files load with the expected sizes", "[data][fashion]") {
    data::ImageDataset train = data::load_fashion_mnist("train");
    data::ImageDataset test = data::load_fashion_mnist("test");
    REQUIRE(train.size() == 60000);
    REQUIRE(test.size() == 10000);
    REQUIRE(train.images.shape() == nn::Shape{60000, 1, 28, 28});
    // normalised with the training set's statistics: mean ~0, std ~1
    double s = 0, s2 = 0;
    const float* p = train.images.data();
    for (int64_t i = 0; i < train.images.numel(); i++) {
        s += p[i];
        s2 += double(p[i]) * p[i];
    }
    double n = double(train.images.numel());
    REQUIRE(std::fabs(s / n) < 0.01);
    REQUIRE(std::fabs(std::sqrt(s2 / n - (s / n) * (s / n)) - 1.0) < 0.01);
    std::vector<int> counts(10, 0);
    for (auto l : train.labels.values) counts[size_t(l)]++;
    for (int c : counts) REQUIRE(c == 6000);
}

TEST_CASE("fashion-mnist: a missing data directory says to run make data", "[data][bad-input]") {
    const char* old = std::getenv("SECATEURS_DATA");
    std::string saved = old ? old : "";
    setenv("SECATEURS_DATA", "/nonexistent-data-dir", 1);
    REQUIRE_THROWS_WITH(data::load_fashion_mnist("train"), Catch::Contains("run `make data`") &&
                                                                Catch::Contains("/nonexistent-data-dir"));
    if (old) setenv("SECATEURS_DATA", saved.c_str(), 1);
    else unsetenv("SECATEURS_DATA");
}

namespace {

// CIFAR-10 records: label, then pixel value (record * 7 + channel * 3 + position) mod 256.
std::vector<uint8_t> cifar_bytes(const std::vector<uint8_t>& labels) {
    std::vector<uint8_t> b;
    for (size_t r = 0; r < labels.size(); r++) {
        b.push_back(labels[r]);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 1024; i++) b.push_back(uint8_t((r * 7 + size_t(c) * 3 + size_t(i)) % 256));
    }
    return b;
}

void require_cifar_rejected(const std::vector<uint8_t>& b, const std::string& expected) {
    REQUIRE_THROWS_WITH(data::parse_cifar10(b.data(), b.size(), "bad.bin"),
                        Catch::Contains("bad.bin") && Catch::Contains(expected));
}

}  // namespace

TEST_CASE("cifar-10: records parse into labels and channel planes", "[data][cifar]") {
    auto b = cifar_bytes({3, 9});
    data::CifarBatch batch = data::parse_cifar10(b.data(), b.size(), "ok.bin");
    REQUIRE(batch.n == 2);
    REQUIRE(batch.labels == std::vector<uint8_t>{3, 9});
    REQUIRE(batch.pixels.size() == 2 * 3072);
    REQUIRE(batch.pixels[1024] == 3);              // record 0, green plane, first pixel
    REQUIRE(batch.pixels[3072 + 2048 + 5] == 18);  // record 1, blue plane, pixel 5: 7 + 6 + 5

    write_bytes("t-cifar-a.bin", b);
    write_bytes("t-cifar-b.bin", cifar_bytes({0}));
    data::ImageDataset d = data::load_cifar10_files({"t-cifar-a.bin", "t-cifar-b.bin"}, 0.5f, 0.5f);
    REQUIRE(d.size() == 3);
    REQUIRE(d.images.shape() == nn::Shape{3, 3, 32, 32});
    REQUIRE(d.labels.values == std::vector<int64_t>{3, 9, 0});
    REQUIRE(d.images.at({1, 2, 0, 5}) == Approx((18.0f / 255.0f - 0.5f) / 0.5f));
    REQUIRE(d.pad_value == -1.0f);
    for (const char* f : {"t-cifar-a.bin", "t-cifar-b.bin"}) std::remove(f);
}

TEST_CASE("cifar-10: bad inputs each get one clear error", "[data][cifar][bad-input]") {
    SECTION("gzip instead of raw") { require_cifar_rejected({0x1f, 0x8b, 8, 0, 1, 2}, "gzip-compressed"); }
    SECTION("a tar archive") {
        std::vector<uint8_t> tar(3073 * 2, 0);
        std::memcpy(tar.data() + 257, "ustar", 5);
        require_cifar_rejected(tar, "a tar archive; extract it");
    }
    SECTION("empty") { require_cifar_rejected({}, "empty file"); }
    SECTION("truncated") {
        auto b = cifar_bytes({1, 2});
        b.resize(b.size() - 100);
        require_cifar_rejected(b, "6046 bytes is not a whole number of 3073-byte CIFAR-10 records (1 records and 2973");
    }
    SECTION("CIFAR-100 records") { require_cifar_rejected(std::vector<uint8_t>(3074 * 3, 1), "the CIFAR-100 layout"); }
    SECTION("label out of range") {
        auto b = cifar_bytes({1, 2, 3});
        b[2 * 3073] = 10;
        require_cifar_rejected(b, "label 10 of record 2 (byte offset 6146) is outside [0, 10)");
    }
}

TEST_CASE("cifar-10: the split files come from the data directory; missing ones say where to get them",
          "[data][cifar][bad-input]") {
    const char* old = std::getenv("SECATEURS_DATA");
    std::string saved = old ? old : "";
    std::string root = "t-cifar-root", dir = root + "/cifar-10-batches-bin";
    nn::io::make_dirs(dir);
    setenv("SECATEURS_DATA", root.c_str(), 1);
    for (int i = 1; i <= 5; i++) write_bytes(dir + "/data_batch_" + std::to_string(i) + ".bin", cifar_bytes({uint8_t(i)}));
    data::ImageDataset train = data::load_cifar10("train");
    REQUIRE(train.labels.values == std::vector<int64_t>{1, 2, 3, 4, 5});
    REQUIRE(train.name == "cifar-10/train");
    REQUIRE_THROWS_WITH(data::load_cifar10("test"), Catch::Contains(dir + "/test_batch.bin: not found") &&
                                                         Catch::Contains("cifar-10-binary.tar.gz"));
    REQUIRE_THROWS_WITH(data::load_cifar10("val"), Catch::Contains("split must be 'train' or 'test'"));
    if (old) setenv("SECATEURS_DATA", saved.c_str(), 1);
    else unsetenv("SECATEURS_DATA");
    std::filesystem::remove_all(root);
}

TEST_CASE("ImageDataset::head takes the first n examples and refuses more than there are", "[data]") {
    data::ImageDataset d;
    d.name = "toy";
    d.images = nn::Tensor::empty({4, 1, 1, 2});
    for (int64_t i = 0; i < 8; i++) d.images.data()[i] = float(i);
    d.labels = nn::IntTensor::from_vector({3, 1, 2, 0}, nn::Shape{4});
    data::ImageDataset h = d.head(2);
    REQUIRE(h.size() == 2);
    REQUIRE(h.name == "toy");
    REQUIRE(h.labels.values == std::vector<int64_t>{3, 1});
    for (int64_t i = 0; i < 4; i++) REQUIRE(h.images.data()[i] == float(i));
    REQUIRE(d.head(0).size() == 0);
    REQUIRE_THROWS_WITH(d.head(5), Catch::Contains("toy: cannot take the first 5 of 4 examples"));
}

TEST_CASE("model spec lists keep a spec's own comma-separated options", "[models]") {
    REQUIRE(nn::split_model_specs("lenet300,vgg:hidden=16,widths=8-8,conv4") ==
            std::vector<std::string>{"lenet300", "vgg:hidden=16,widths=8-8", "conv4"});
    REQUIRE(nn::split_model_specs("") == std::vector<std::string>{});
}
