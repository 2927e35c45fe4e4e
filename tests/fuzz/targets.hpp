// Fuzz targets, one per parser of untrusted input. Each takes arbitrary bytes, runs the parser, and
// returns normally when the input is accepted or rejected with an nn::Error; anything else (another
// exception, a crash, a sanitizer report, a broken invariant thrown as std::logic_error) is a bug.
// Built twice: into libFuzzer executables (the fuzz build, -Dfuzz=true with clang, where each file
// also defines LLVMFuzzerTestOneInput), and into the test suite, which replays the committed
// corpora in tests/fuzz/corpus/<target>/ (seeds and every crash ever found) on every run.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fuzz {

int idx(const uint8_t* data, size_t n);          // data::parse_idx
int cifar(const uint8_t* data, size_t n);        // data::parse_cifar10
int safetensors(const uint8_t* data, size_t n);  // nn::st::File::parse, tensor reads, re-serialisation
int json(const uint8_t* data, size_t n);         // nn::json::parse
int args(const uint8_t* data, size_t n);         // experiments::Args::parse (+ nn::ModelSpec::parse)
int sparse_checkpoint(const uint8_t* data, size_t n);  // sparse::parse_sparse_checkpoint, round trips
int recipe(const uint8_t* data, size_t n);       // prune::parse_recipe, step resolution, offline masks
int text(const uint8_t* data, size_t n);         // data/text.hpp corpus readers, tokenizer, vocabulary

}  // namespace fuzz

// The libFuzzer entry point of one target, in the fuzz build only.
#ifdef SECATEURS_FUZZ_ENTRY
#define FUZZ_ENTRY(target) \
    extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) { return fuzz::target(data, n); }
#else
#define FUZZ_ENTRY(target)
#endif
