// Replays every committed fuzz input (seeds and crash reproducers, tests/fuzz/corpus/<target>/)
// through its target: each must be accepted or rejected with an nn::Error, nothing else. Under
// `make test-asan` this runs with the address and undefined-behaviour sanitizers.
#include <catch2/catch.hpp>
#include <string>

#include "fuzz/targets.hpp"
#include "nn/io.hpp"

#ifndef SECATEURS_SOURCE_DIR
#define SECATEURS_SOURCE_DIR "."
#endif

namespace {

void replay(const std::string& target, int (*fn)(const uint8_t*, size_t)) {
    std::string dir = std::string(SECATEURS_SOURCE_DIR) + "/tests/fuzz/corpus/" + target;
    auto names = nn::io::list_dir(dir);
    REQUIRE(names.size() >= 5);
    for (auto& name : names) {
        INFO("input " << dir << "/" << name);
        std::vector<uint8_t> bytes = nn::io::read_file(dir + "/" + name);
        REQUIRE_NOTHROW(fn(bytes.data(), bytes.size()));
    }
}

}  // namespace

TEST_CASE("fuzz corpus: idx", "[fuzz][idx][bad-input]") { replay("idx", fuzz::idx); }
TEST_CASE("fuzz corpus: cifar", "[fuzz][cifar][bad-input]") { replay("cifar", fuzz::cifar); }
TEST_CASE("fuzz corpus: safetensors", "[fuzz][safetensors][bad-input]") { replay("safetensors", fuzz::safetensors); }
TEST_CASE("fuzz corpus: json", "[fuzz][json][bad-input]") { replay("json", fuzz::json); }
TEST_CASE("fuzz corpus: args", "[fuzz][args][bad-input]") { replay("args", fuzz::args); }
TEST_CASE("fuzz corpus: sparse_checkpoint", "[fuzz][sparse][bad-input]") {
    replay("sparse_checkpoint", fuzz::sparse_checkpoint);
}
TEST_CASE("fuzz corpus: recipe", "[fuzz][recipe][bad-input]") { replay("recipe", fuzz::recipe); }
TEST_CASE("fuzz corpus: text", "[fuzz][text][bad-input]") { replay("text", fuzz::text); }
