// sparse/: sparse checkpoints — sparsify decisions, round trips, loading into a model, the CLI, and one
// test per kind of malformed file (a parser of untrusted input).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "helpers.hpp"
#include "subprocess.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/models.hpp"
#include "sparse/checkpoint.hpp"

using nn::Tensor;
namespace st = nn::st;

namespace {

using testing::random_mask;

// A pruned lenet300 checkpoint as the pruning library writes one: weights (pruned entries zero),
// biases, and "<name>_mask" entries; fc3 keeps a dense mask.
st::File pruned_lenet300(std::map<std::string, Tensor>& masks) {
    auto model = nn::make_model("lenet300", 4);
    st::File f;
    f.metadata["arch"] = "lenet300";
    const double density[] = {0.1, 0.2, 0.9};
    int i = 0;
    for (auto& [name, t] : model->state_dict()) {
        if (t.ndim() == 2) {
            Tensor m = random_mask(t.shape(), density[i], uint64_t(i + 1) * 3);
            i++;
            masks[name] = m;
            f.put(name, nn::mul(t.detach(), m));
            f.put(name + "_mask", m);
        } else {
            f.put(name, t);
        }
    }
    return f;
}

std::vector<uint8_t> bytes_of(const st::File& f) { return f.serialize(); }

// Equal values (pruned products are -0 where the weight was negative; expanded CSR writes +0).
void require_same_values(const Tensor& a, const Tensor& b, const std::string& what) {
    testing::require_close(a.to_vector(), b.to_vector(), 1e-30f, 0.0f, what);
}

// A valid sparse file holding one 2x3 tensor "w" = [[1 0 2] [0 3 4]] plus a dense "b"; `edit` breaks it.
st::File small_sparse(const std::function<void(st::File&)>& edit = nullptr) {
    sparse::SparseCheckpoint c;
    c.dense.put("b", Tensor::from_vector({1, 2}, {2}));
    c.sparse.push_back({"w", {2, 3}, sparse::from_dense(Tensor::from_vector({1, 0, 2, 0, 3, 4}, {2, 3})), false});
    st::File f = sparse::to_file(c);
    if (edit) edit(f);
    return f;
}

void put_i32(st::File& f, const std::string& name, std::vector<int64_t> v) {
    f.put_int(name, nn::IntTensor::from_vector(v, {int64_t(v.size())}), st::DType::I32);
}

void require_rejected(const st::File& f, const std::string& expected) {
    std::vector<uint8_t> b = bytes_of(f);
    st::File parsed = st::File::parse(b.data(), b.size(), "bad.safetensors");
    REQUIRE_THROWS_WITH(sparse::parse_sparse_checkpoint(parsed, "bad.safetensors"),
                        Catch::Contains("bad.safetensors") && Catch::Contains(expected));
}

}  // namespace

TEST_CASE("sparse checkpoint: sparsify converts masked and zero tensors, keeps the rest", "[sparse]") {
    std::map<std::string, Tensor> masks;
    st::File in = pruned_lenet300(masks);
    in.put_int("step", nn::IntTensor::from_vector({7}, {1}));
    in.put("dense_grid", Tensor::ones({4, 4}));            // no zeros: stays dense
    in.put("zeros_grid", Tensor::from_vector({0, 0, 0, 5}, {2, 2}));  // CSR16 (6 + 12 B) < 16 B? no: stays dense
    std::vector<sparse::SparsifyDecision> report;
    sparse::SparseCheckpoint c = sparse::sparsify(in, "pruned.safetensors", {}, &report);
    REQUIRE(c.sparse.size() == 2);  // fc1, fc2; fc3's mask is 90 % dense: CSR16 would not be smaller
    REQUIRE(c.sparse[0].name == "fc1.weight");
    REQUIRE(c.sparse[0].compact);
    REQUIRE(c.find("fc2.weight") != nullptr);
    REQUIRE(c.dense.contains("fc3.weight"));
    REQUIRE(c.dense.contains("fc3.weight_mask"));
    REQUIRE_FALSE(c.dense.contains("fc1.weight_mask"));  // the pattern is the mask
    REQUIRE(c.dense.contains("fc1.bias"));
    REQUIRE(c.dense.find("step")->dtype == st::DType::I64);
    REQUIRE(c.dense.contains("dense_grid"));
    REQUIRE(c.dense.contains("zeros_grid"));
    REQUIRE(c.dense.metadata.at("arch") == "lenet300");
    for (auto& d : report)
        if (d.name == "fc1.weight") {
            REQUIRE(d.from_mask);
            REQUIRE(d.sparse);
            REQUIRE(d.bytes_after == sparse::csr16_bytes(300, d.nnz));
        }
    // Round trip through bytes: every tensor equals the masked original.
    std::vector<uint8_t> b = bytes_of(sparse::to_file(c));
    sparse::SparseCheckpoint back = sparse::parse_sparse_checkpoint(st::File::parse(b.data(), b.size(), "mem"), "mem");
    auto sd = back.state_dict();
    for (const char* name : {"fc1.weight", "fc2.weight", "fc3.weight", "fc1.bias"})
        require_same_values(sd.at(name), in.tensor(name), name);
    testing::require_equal(back.masks().at("fc1.weight").to_vector(), masks.at("fc1.weight").to_vector(), "mask");
    REQUIRE(sd.at("step").item() == 7.0f);
    // The file is smaller, and densify restores an ordinary checkpoint.
    size_t before = 0, after = 0;
    for (auto& e : in.entries()) before += e.bytes.size();
    st::File written = sparse::to_file(c);
    for (auto& e : written.entries()) after += e.bytes.size();
    REQUIRE(after < before / 3);
    st::File dense = sparse::densify(back);
    REQUIRE_FALSE(sparse::is_sparse_checkpoint(dense));
    require_same_values(dense.tensor("fc2.weight"), in.tensor("fc2.weight"), "densify");
}

TEST_CASE("sparse checkpoint: PyTorch's weight_orig + weight_mask become one sparse weight", "[sparse]") {
    st::File in;
    Tensor orig = testing::randn({6, 8}, 1), mask = random_mask({6, 8}, 0.25, 2);
    in.put("fc.weight_orig", orig);  // PyTorch keeps the unmasked values
    in.put("fc.weight_mask", mask);
    in.put("fc.bias", Tensor::zeros({6}));
    sparse::SparseCheckpoint c = sparse::sparsify(in, "torch.safetensors");
    REQUIRE(c.sparse.size() == 1);
    REQUIRE(c.sparse[0].name == "fc.weight");
    require_same_values(c.state_dict().at("fc.weight"), nn::mul(orig, mask), "orig * mask");
    REQUIRE_FALSE(c.dense.contains("fc.weight_mask"));
    REQUIRE(c.dense.contains("fc.bias"));
    // --index 32 and a conv-shaped weight flattened to [out, rest].
    st::File conv;
    conv.put("conv.weight", nn::mul(testing::randn({4, 3, 3, 3}, 3), random_mask({4, 3, 3, 3}, 0.2, 4)));
    sparse::SparsifyOptions o;
    o.index = sparse::IndexChoice::i32;
    sparse::SparseCheckpoint cc = sparse::sparsify(conv, "conv.safetensors", o);
    REQUIRE(cc.sparse.size() == 1);
    REQUIRE_FALSE(cc.sparse[0].compact);
    REQUIRE(cc.sparse[0].csr.cols == 27);
    std::vector<uint8_t> b = bytes_of(sparse::to_file(cc));
    st::File parsed = st::File::parse(b.data(), b.size(), "mem");
    REQUIRE(parsed.metadata.at("sparse.conv.weight") == "4,3,3,3");
    REQUIRE(parsed.find("conv.weight.col_indices")->dtype == st::DType::I32);
    require_same_values(sparse::parse_sparse_checkpoint(parsed, "mem").state_dict().at("conv.weight"),
                        conv.tensor("conv.weight"), "conv");
}

TEST_CASE("sparse checkpoint: loaded into a model it runs sparse and matches the masked dense model", "[sparse]") {
    std::map<std::string, Tensor> masks;
    st::File in = pruned_lenet300(masks);
    sparse::SparseCheckpoint c = sparse::sparsify(in, "pruned.safetensors");
    auto dense = nn::make_model("lenet300", 0), sp = nn::make_model("lenet300", 0);
    nn::load_module(in, *dense, "pruned.safetensors");
    auto decisions = sparse::load_sparse_model(c, *sp, "sparse.safetensors");
    REQUIRE(decisions.size() == 3);
    REQUIRE(decisions[0].sparse);
    REQUIRE(decisions[1].sparse);
    REQUIRE_FALSE(decisions[2].sparse);
    Tensor x = testing::randn({9, 1, 28, 28}, 5);
    nn::NoGradGuard ng;
    std::vector<float> a = sp->forward(x).to_vector(), b = dense->forward(x).to_vector();
    float scale = 0;
    for (float v : b) scale = std::max(scale, std::fabs(v));
    testing::require_close(a, b, 1e-5f * scale, 1e-5f, "sparse checkpoint model");
    // A checkpoint for another architecture is an error naming the file.
    auto other = nn::make_model("lenet300:hidden=20-10", 0);
    REQUIRE_THROWS_WITH(sparse::load_sparse_model(c, *other, "sparse.safetensors"), Catch::Contains("sparse.safetensors"));
}

TEST_CASE("sparse checkpoint: each kind of malformed file is rejected naming the tensor", "[sparse]") {
    REQUIRE_NOTHROW(sparse::parse_sparse_checkpoint(small_sparse(), "ok"));
    require_rejected(small_sparse([](st::File& f) { f.remove("w.crow_indices"); }), "has no entry 'w.crow_indices'");
    require_rejected(small_sparse([](st::File& f) { f.remove("w.values"); }), "has no entry 'w.values'");
    require_rejected(small_sparse([](st::File& f) { put_i32(f, "w.crow_indices", {0, 2}); }),
                     "'w.crow_indices' has 2 entries but shape [2,3] has 2 rows");
    require_rejected(small_sparse([](st::File& f) { put_i32(f, "w.crow_indices", {1, 2, 4}); }), "row_ptr[0] is 1");
    require_rejected(small_sparse([](st::File& f) { put_i32(f, "w.crow_indices", {0, 5, 4}); }), "decreases at row 1");
    require_rejected(small_sparse([](st::File& f) { put_i32(f, "w.crow_indices", {0, 2, 3}); }),
                     "row_ptr ends at 3 but there are 4 entries");
    require_rejected(small_sparse([](st::File& f) { put_i32(f, "w.col_indices", {0, 2, 1, 3}); }),
                     "sparse tensor 'w': row 1, entry 3: column 3 is outside [0, 3)");
    require_rejected(small_sparse([](st::File& f) { put_i32(f, "w.col_indices", {0, -5, 1, 2}); }), "column -5");
    require_rejected(small_sparse([](st::File& f) { put_i32(f, "w.col_indices", {2, 0, 1, 2}); }),
                     "must be sorted and unique");
    require_rejected(small_sparse([](st::File& f) { f.put("w.values", Tensor::zeros({3})); }),
                     "has 4 column indices but 3 values");
    require_rejected(small_sparse([](st::File& f) { f.put("w.crow_indices", Tensor::zeros({3})); }),
                     "'w.crow_indices' has dtype F32, expected I32");
    require_rejected(small_sparse([](st::File& f) { f.put_int("w.col_indices", nn::IntTensor::from_vector({0, 2, 1, 2}, {4})); }),
                     "'w.col_indices' has dtype I64, expected I32 or U16");
    require_rejected(small_sparse([](st::File& f) { f.put("w.values", Tensor::zeros({2, 2})); }), "must be one-dimensional");
    require_rejected(small_sparse([](st::File& f) { f.metadata["sparse.w"] = "2,x"; }), "malformed shape \"2,x\"");
    require_rejected(small_sparse([](st::File& f) { f.metadata["sparse.w"] = "6"; }), "must have 2 to 6 extents");
    require_rejected(small_sparse([](st::File& f) { f.metadata["sparse.w"] = "2,-3"; }), "malformed shape");
    require_rejected(small_sparse([](st::File& f) { f.metadata["sparse.w"] = "2000000000,2000000000"; }), "too large");
    require_rejected(small_sparse([](st::File& f) { f.put("w", Tensor::zeros({2, 3})); }),
                     "'w' is stored both dense and sparse");
    require_rejected(small_sparse([](st::File& f) { f.metadata["sparse.missing"] = "2,2"; }),
                     "sparse tensor 'missing' has no entry 'missing.crow_indices'");
}

TEST_CASE("sparse checkpoint: randomly corrupted files give an error or a valid checkpoint, never a crash",
          "[sparse]") {
    // A deterministic mutation sweep (run it under the sanitizer build): bytes anywhere in the file,
    // and then mostly in the data where the CSR arrays live, are overwritten with random values.
    sparse::SparseCheckpoint c;
    c.dense.put("b", Tensor::from_vector({1, 2, 3}, {3}));
    c.sparse.push_back({"w", {3, 5}, sparse::from_dense(nn::mul(testing::randn({3, 5}, 1), random_mask({3, 5}, 0.5, 2))), true});
    c.sparse.push_back({"v", {2, 2, 2}, sparse::from_dense(Tensor::from_vector({0, 1, 0, 2, 3, 0, 0, 4}, {2, 4})), false});
    const std::vector<uint8_t> good = bytes_of(sparse::to_file(c));
    uint64_t header = 0;
    std::memcpy(&header, good.data(), 8);
    nn::Rng rng(99);
    int n_rejected = 0, n_accepted = 0;
    for (int it = 0; it < 3000; it++) {
        std::vector<uint8_t> b = good;
        int flips = 1 + int(rng.below(4));
        for (int k = 0; k < flips; k++) {
            size_t pos = it % 4 == 0 ? size_t(rng.below(b.size())) : size_t(8 + header + rng.below(b.size() - 8 - header));
            b[pos] = uint8_t(rng.below(256));
        }
        try {
            st::File f = st::File::parse(b.data(), b.size(), "fuzz");
            sparse::SparseCheckpoint p = sparse::parse_sparse_checkpoint(f, "fuzz");
            for (auto& s : p.sparse) s.csr.validate(s.name);  // accepted means valid
            st::File d = sparse::densify(p);
            n_accepted++;
        } catch (const nn::Error&) {
            n_rejected++;
        }
    }
    REQUIRE(n_rejected > 100);
    REQUIRE(n_accepted > 100);  // value bytes changed: still a valid file
}

TEST_CASE("secateurs sparsify: writes a smaller file that eval-style loading accepts; errors exit 1", "[sparse][cli]") {
    std::map<std::string, Tensor> masks;
    std::string in = "test-sparsify-in.safetensors", out = "test-sparsify-out.safetensors", log;
    testing::RemoveOnExit cleanup{in, out};
    pruned_lenet300(masks).write(in);
    REQUIRE(testing::run_secateurs({"sparsify", "--in", in, "--out", out}, log) == 0);
    REQUIRE(log.find("fc1.weight") != std::string::npos);
    REQUIRE(log.find("CSR16 (pattern = mask)") != std::string::npos);
    sparse::SparseCheckpoint c = sparse::read_sparse_checkpoint(out);
    REQUIRE(c.sparse.size() == 2);
    // Already sparse: refused with a message naming the file.
    REQUIRE(testing::run_secateurs({"sparsify", "--in", out}, log) == 1);
    REQUIRE(log.find("already a sparse checkpoint") != std::string::npos);
    // summary reads both files and reports the memory of each format; the sparse file's patterns act
    // as masks, so both give the same bytes.
    int64_t nnz = 0;
    for (float v : masks["fc1.weight"].to_vector()) nnz += v != 0.0f;
    std::string want = std::to_string(sparse::csr16_bytes(300, nnz));
    for (const std::string& file : {in, out}) {
        std::string text;
        REQUIRE(testing::run_secateurs({"summary", file}, text) == 0);
        INFO(text);
        REQUIRE(text.find("memory (float32 values") != std::string::npos);
        size_t row = text.find("\nfc1.weight", text.find("memory (float32"));
        REQUIRE(row != std::string::npos);
        REQUIRE(text.substr(row, text.find('\n', row + 1) - row).find(" " + want + " ") != std::string::npos);
    }
}

TEST_CASE("secateurs bench: decisions, memory, agreeing outputs and a timing row per batch; errors exit 1", "[sparse][cli]") {
    std::map<std::string, Tensor> masks;
    std::string in = "test-bench-in.safetensors", sparse_file = "test-bench-sparse.safetensors", log;
    testing::RemoveOnExit cleanup{in, sparse_file};
    pruned_lenet300(masks).write(in);
    REQUIRE(testing::run_secateurs({"sparsify", "--in", in, "--out", sparse_file}, log) == 0);
    for (const std::string& file : {in, sparse_file}) {
        std::string text;
        REQUIRE(testing::run_secateurs({"bench", "--ckpt", file, "--batch-sizes", "1,3", "--rounds", "1",
                                        "--round-seconds", "0.001"}, text) == 0);
        INFO(text);
        // fc1 (density 0.1) and fc2 (0.2) run sparse, fc3 (0.9) stays dense.
        REQUIRE(text.find("2 of 3 layers sparse") != std::string::npos);
        size_t fc3 = text.find("\nfc3 ");
        REQUIRE(fc3 != std::string::npos);
        REQUIRE(text.substr(fc3, text.find('\n', fc3 + 1) - fc3).find("dense (") != std::string::npos);
        size_t at = text.find("differ by <= ");
        REQUIRE(at != std::string::npos);
        REQUIRE(std::atof(text.c_str() + at + std::strlen("differ by <= ")) < 1e-5);
        for (const char* row : {"\n       1 ", "\n       3 "}) REQUIRE(text.find(row) != std::string::npos);
    }
    REQUIRE(testing::run_secateurs({"bench", "--ckpt", in, "--batch-sizes", "1,x"}, log) == 1);
    REQUIRE(log.find("--batch-sizes: 'x'") != std::string::npos);
    REQUIRE(testing::run_secateurs({"bench", "--ckpt", in, "--seq-len", "8"}, log) == 1);
    REQUIRE(log.find("--seq-len applies to BERT models") != std::string::npos);
    REQUIRE(testing::run_secateurs({"bench", "--ckpt", "test-bench-missing.safetensors"}, log) == 1);
    REQUIRE(log.find("test-bench-missing.safetensors") != std::string::npos);
}

TEST_CASE("secateurs bench: BERT checkpoints, timed on random word sequences", "[sparse][cli][bert]") {
    std::string file = "test-bench-bert.safetensors", log;
    testing::RemoveOnExit cleanup{file};
    const std::pair<std::string, std::string> cases[] = {
        {"bert-mlm:vocab=60,hidden=32,layers=1,heads=2,ffn=64,seq=16", "7 of 8 layers sparse"},
        {"bert-cls:vocab=60,hidden=32,layers=1,heads=2,ffn=64,seq=16,classes=3", "6 of 8 layers sparse"}};
    for (const auto& [arch, sparse_layers] : cases) {
        INFO(arch);
        // The encoder's six matrices and the word embedding at density 0.1 (masks stored beside them);
        // the rest stays dense.
        auto model = nn::make_model(arch, 5);
        st::File f;
        f.metadata["arch"] = arch;
        uint64_t seed = 1;
        for (auto& [name, t] : model->state_dict()) {
            if (t.ndim() == 2 && (name.find(".encoder.") != std::string::npos || name.find("word_emb") != std::string::npos)) {
                Tensor m = random_mask(t.shape(), 0.1, seed++);
                f.put(name, nn::mul(t.detach(), m));
                f.put(name + "_mask", m);
            } else {
                f.put(name, t);
            }
        }
        f.write(file);
        std::string text;
        REQUIRE(testing::run_secateurs({"bench", "--ckpt", file, "--batch-sizes", "1,4", "--seq-len", "8", "--rounds",
                                        "1", "--round-seconds", "0.001"}, text) == 0);
        INFO(text);
        // The six encoder matrices run sparse, and the MLM model's decoder tied to the pruned word
        // embedding; the MLM head's transform (dense) does not, the classification model's pooler and
        // classifier neither.
        REQUIRE(text.find(sparse_layers) != std::string::npos);
        if (arch.rfind("bert-mlm", 0) == 0) {
            const size_t at = text.find("\ncls.predictions ");
            REQUIRE(at != std::string::npos);
            const std::string line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
            REQUIRE(line.find(" Decoder  [60, 32] ") != std::string::npos);
            REQUIRE(line.find(" sparse (") != std::string::npos);
        }
        REQUIRE(text.find("\nbert.encoder.layer.0.intermediate.dense ") != std::string::npos);
        size_t at = text.find("outputs (8 random sequences of 8 tokens): compiled and masked dense differ by <= ");
        REQUIRE(at != std::string::npos);
        at = text.find("<= ", at) + 3;
        REQUIRE(std::atof(text.c_str() + at) < 1e-5);
        for (const char* row : {"\n       1 ", "\n       4 "}) REQUIRE(text.find(row) != std::string::npos);
        // Longer than the model's positions: one error naming the limit.
        REQUIRE(testing::run_secateurs({"bench", "--ckpt", file, "--seq-len", "17"}, log) == 1);
        REQUIRE(log.find("--seq-len 17 is longer than the 16 positions") != std::string::npos);
    }
}

TEST_CASE("sparse checkpoint: a tensor with no stored entries (int32 indices) loads and writes back", "[sparse]") {
    // Found by the sparse_checkpoint fuzz target: reading copied zero column indices with memcpy into
    // the null data() of an empty vector (undefined behaviour, reported by UBSan).
    for (bool compact : {false, true}) {
        sparse::SparseCheckpoint c;
        sparse::SparseTensor t;
        t.name = "e.weight";
        t.shape = {3, 5};
        t.csr = sparse::from_dense(Tensor::zeros({3, 5}));
        t.compact = compact;
        c.sparse.push_back(t);
        std::vector<uint8_t> bytes = sparse::to_file(c).serialize();
        sparse::SparseCheckpoint back =
            sparse::parse_sparse_checkpoint(nn::st::File::parse(bytes.data(), bytes.size(), "empty"), "empty");
        REQUIRE(back.sparse.size() == 1);
        REQUIRE(back.sparse[0].csr.nnz() == 0);
        REQUIRE(back.sparse[0].csr.row_ptr == std::vector<int32_t>{0, 0, 0, 0});
        REQUIRE(back.state_dict()["e.weight"].shape() == nn::Shape{3, 5});
    }
}
