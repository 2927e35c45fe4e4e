// safetensors: round trips, golden bytes, and one test per rejected malformed file.
#include <cstring>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/io.hpp"
#include "nn/json.hpp"
#include "nn/models.hpp"
#include "nn/safetensors.hpp"

using nn::Tensor;
namespace st = nn::st;

namespace {

// A file image: u64 header length, header text, data bytes.
std::vector<uint8_t> image(const std::string& header, size_t data_bytes, uint64_t declared = UINT64_MAX) {
    std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
    uint64_t len = declared == UINT64_MAX ? header.size() : declared;
    std::memcpy(out.data(), &len, 8);
    std::memcpy(out.data() + 8, header.data(), header.size());
    return out;
}

void require_rejected(const std::vector<uint8_t>& bytes, const std::string& expected) {
    REQUIRE_THROWS_WITH(st::File::parse(bytes.data(), bytes.size(), "bad.safetensors"),
                        Catch::Contains("bad.safetensors") && Catch::Contains(expected));
}

}  // namespace

TEST_CASE("safetensors: golden bytes of a one-tensor file", "[safetensors]") {
    st::File f;
    f.put("a", Tensor::from_vector({1.0f, 2.0f}, {2}));
    std::vector<uint8_t> bytes = f.serialize();
    std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    header += std::string((8 - (8 + header.size()) % 8) % 8, ' ');  // padded to 8-byte alignment
    std::vector<uint8_t> expected = image(header, 8);
    const uint8_t floats[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40};  // 1.0f, 2.0f little-endian
    std::memcpy(expected.data() + 8 + header.size(), floats, 8);
    REQUIRE(bytes == expected);
    REQUIRE((bytes.size() - 8 - 8) % 8 == 0);
}

TEST_CASE("safetensors: round trip of dtypes, shapes and metadata", "[safetensors]") {
    st::File f;
    f.metadata["arch"] = "lenet300";
    f.metadata["note"] = "quote \" and newline \n and tab \t";
    f.put("w", testing::randn({3, 4}, 1));
    f.put("scalar", Tensor::scalar(2.5f));
    f.put("empty", Tensor::zeros({0, 3}));
    f.put_int("ids", nn::IntTensor::from_vector({1, -2, 3}, {3}));
    f.put_int("small", nn::IntTensor::from_vector({0, 1, 255}, {3}), st::DType::U8);
    f.put_int("i32", nn::IntTensor::from_vector({7, -7}, {2}), st::DType::I32);
    std::string path = "test-roundtrip.safetensors";
    f.write(path);
    st::File g = st::File::read(path);
    std::remove(path.c_str());
    REQUIRE(g.metadata == f.metadata);
    REQUIRE(g.entries().size() == 6);
    testing::require_equal(g.tensor("w").to_vector(), f.tensor("w").to_vector());
    REQUIRE(g.tensor("scalar").item() == 2.5f);
    REQUIRE(g.tensor("empty").shape() == nn::Shape{0, 3});
    REQUIRE(g.int_tensor("ids").values == std::vector<int64_t>{1, -2, 3});
    REQUIRE(g.int_tensor("small").values == std::vector<int64_t>{0, 1, 255});
    REQUIRE(g.int_tensor("i32").values == std::vector<int64_t>{7, -7});
    REQUIRE(g.find("small")->dtype == st::DType::U8);
    REQUIRE_THROWS_AS(g.tensor("ids"), nn::Error);      // integer entry read as float
    REQUIRE_THROWS_AS(g.tensor("missing"), nn::Error);
}

TEST_CASE("safetensors: F64, F16 and BF16 entries convert to float", "[safetensors]") {
    st::Entry e64{"d", st::DType::F64, {2}, {}};
    double d[2] = {1.5, -3.25};
    e64.bytes.assign(reinterpret_cast<uint8_t*>(d), reinterpret_cast<uint8_t*>(d) + 16);
    st::Entry e16{"h", st::DType::F16, {3}, {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}};  // 1.0, -2.0, smallest subnormal
    st::Entry eb{"b", st::DType::BF16, {1}, {0x80, 0x3f}};                       // 1.0
    st::File f;
    f.put_raw(e64);
    f.put_raw(e16);
    f.put_raw(eb);
    auto bytes = f.serialize();
    st::File g = st::File::parse(bytes.data(), bytes.size(), "mem");
    REQUIRE(g.tensor("d").to_vector() == std::vector<float>{1.5f, -3.25f});
    auto h = g.tensor("h").to_vector();
    REQUIRE(h[0] == 1.0f);
    REQUIRE(h[1] == -2.0f);
    REQUIRE(h[2] == Approx(5.960464477539063e-08f));
    REQUIRE(g.tensor("b").item() == 1.0f);
}

TEST_CASE("safetensors: malformed files are rejected with a message naming the file", "[safetensors][bad-input]") {
    const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    SECTION("shorter than the length prefix") { require_rejected({1, 2, 3}, "shorter than the 8-byte header"); }
    SECTION("huge header length") { require_rejected(image("{}", 0, 200'000'000), "exceeds the 100000000-byte limit"); }
    SECTION("header length past the end") { require_rejected(image("{}", 0, 64), "runs past the end"); }
    SECTION("header not an object") { require_rejected(image("[1]", 0), "does not start with '{'"); }
    SECTION("invalid JSON") { require_rejected(image("{\"a\":", 0), "invalid JSON"); }
    SECTION("duplicate keys") { require_rejected(image("{" + ok_entry + "," + ok_entry + "}", 8), "duplicate key"); }
    SECTION("unknown dtype") {
        require_rejected(image(R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2), "unknown dtype 'F8'");
    }
    SECTION("size lies about the shape") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12");
    }
    SECTION("overlapping offsets") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                         "overlaps the previous tensor");
    }
    SECTION("gap between tensors") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
                         "leaves a gap");
    }
    SECTION("offsets beyond the data") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "beyond the 8 data bytes");
    }
    SECTION("trailing bytes") { require_rejected(image("{" + ok_entry + "}", 12), "4 trailing bytes"); }
    SECTION("end before begin") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), "end < begin");
    }
    SECTION("shape overflow") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
                         "overflows 64 bits");
    }
    SECTION("negative extent") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0), "invalid extent");
    }
    SECTION("metadata value not a string") {
        require_rejected(image(R"({"__metadata__":{"k":1}})", 0), "is not a string");
    }
    SECTION("missing data_offsets") { require_rejected(image(R"({"a":{"dtype":"F32","shape":[]}})", 0), "data_offsets"); }
    SECTION("unknown field") {
        require_rejected(image(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", 4), "unknown field 'x'");
    }
}

TEST_CASE("json: strict parsing", "[json]") {
    auto v = nn::json::parse(R"({"a":[1,2.5,"x\u00e9\n"],"b":{"c":true,"d":null}})");
    REQUIRE(v.find("a")->items.size() == 3);
    REQUIRE(v.find("a")->items[2].text == "x\xc3\xa9\n");
    uint64_t big;
    REQUIRE(nn::json::parse("18446744073709551615").as_u64(big));
    REQUIRE(big == UINT64_MAX);
    REQUIRE_FALSE(nn::json::parse("18446744073709551616").as_u64(big));
    REQUIRE_FALSE(nn::json::parse("-1").as_u64(big));
    for (const char* bad : {"{,}", "[1,]", "{\"a\":1,}", "01", "\"\\x\"", "[", "nul", "1 2", "\"\x01\""})
        REQUIRE_THROWS_AS(nn::json::parse(bad), nn::Error);
    std::string deep(100, '[');
    REQUIRE_THROWS_WITH(nn::json::parse(deep), Catch::Contains("deeper than 64"));
    REQUIRE(nn::json::quote("a\"b\\\n") == "\"a\\\"b\\\\\\n\"");
}

TEST_CASE("json: strings must be valid UTF-8", "[json][bad-input]") {
    // NOTE: quoted with append, not "\"" + s, which trips a false -Wrestrict in g++ 12 (GCC bug 105651).
    auto quoted = [](const std::string& s) { return std::string(1, '"').append(s).append(1, '"'); };
    auto parsed = [&](const std::string& s) { return nn::json::parse(quoted(s)).text; };
    REQUIRE(parsed("caf\xc3\xa9") == "caf\xc3\xa9");              // 2-byte
    REQUIRE(parsed("\xe2\x82\xac") == "\xe2\x82\xac");            // 3-byte (euro sign)
    REQUIRE(parsed("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");  // 4-byte
    REQUIRE(parsed("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF, the last code point
    for (const char* bad : {"\xff", "\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                            "\xf0\x9f\x98", "a\xc3(b"}) {
        INFO("bytes: " << bad);
        REQUIRE_THROWS_WITH(nn::json::parse(quoted(bad), "x.json"),
                            Catch::Contains("x.json: invalid JSON at byte") && Catch::Contains("invalid UTF-8 in string"));
    }
    // In a safetensors header too (the reference implementation reads the header as UTF-8).
    std::string header = "{\"\xff\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
    require_rejected(image(header, 4), "invalid UTF-8 in string");
}

TEST_CASE("checkpoint: model save/load round trip and shape mismatch errors", "[safetensors][checkpoint]") {
    auto a = nn::make_model("lenet300", 1);
    auto b = nn::make_model("lenet300", 2);
    REQUIRE(a->parameter("fc1.weight").at({0, 0}) != b->parameter("fc1.weight").at({0, 0}));
    std::string path = "test-ckpt.safetensors";
    nn::save_model(path, *a, {{"arch", "lenet300"}});
    st::File f = nn::load_model(path, *b);
    REQUIRE(f.metadata.at("arch") == "lenet300");
    for (auto& [name, t] : a->state_dict()) testing::require_equal(b->parameter(name).to_vector(), t.to_vector(), name);
    auto c = nn::make_model("lenet300:hidden=200-100", 3);
    REQUIRE_THROWS_WITH(nn::load_model(path, *c), Catch::Contains(path) && Catch::Contains("fc1.weight") &&
                                                      Catch::Contains("[300, 784]") && Catch::Contains("[200, 784]"));
    st::File partial = f;
    partial.remove("fc2.bias");
    REQUIRE_THROWS_WITH(nn::load_module(partial, *b, "partial.safetensors"), Catch::Contains("missing tensors") &&
                                                                               Catch::Contains("fc2.bias"));
    std::remove(path.c_str());
}

TEST_CASE("io: split keeps empty fields and the text between every separator", "[io]") {
    using V = std::vector<std::string>;
    REQUIRE(nn::io::split("a,b,c", ',') == V{"a", "b", "c"});
    REQUIRE(nn::io::split("a,,b,", ',') == V{"a", "", "b", ""});
    REQUIRE(nn::io::split(",", ',') == V{"", ""});
    REQUIRE(nn::io::split("", ',') == V{""});
    REQUIRE(nn::io::split("no separator", ',') == V{"no separator"});
    REQUIRE(nn::io::split("x y", ' ') == V{"x", "y"});
}

TEST_CASE("io: atomic writes leave no temporary files and report unwritable paths", "[io]") {
    std::string path = "test-atomic.txt";
    nn::io::write_text_atomic(path, "one");
    nn::io::write_text_atomic(path, "two");
    REQUIRE(nn::io::read_text(path) == "two");
    std::remove(path.c_str());
    REQUIRE_THROWS_WITH(nn::io::write_text_atomic("/nonexistent-dir/x.txt", "x"), Catch::Contains("/nonexistent-dir/x.txt"));
    REQUIRE_THROWS_WITH(nn::io::read_file("/nonexistent-file"), Catch::Contains("/nonexistent-file") &&
                                                                     Catch::Contains("cannot open"));
}
