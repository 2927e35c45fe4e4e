// Fuzz target: the command-line option table (experiments::Args) with an option of every type and a
// positional, and model specs (nn::ModelSpec::parse). The input is split into arguments at NUL and
// newline bytes; the first argument is also parsed as a model spec.
#include <string>
#include <vector>

#include "experiments/args.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "targets.hpp"

int fuzz::args(const uint8_t* data, size_t n) {
    std::vector<std::string> argv(1);
    for (size_t i = 0; i < n; i++) {
        char c = char(data[i]);
        if (c == '\0' || c == '\n') argv.emplace_back();
        else argv.back() += c;
    }
    int i32 = 10;
    int64_t i64 = 128;
    uint64_t u64 = 1;
    float f32 = 0.1f;
    double f64 = 0.5;
    bool flag = false;
    std::string text = "lenet300", file;
    experiments::Args a("fuzz", "fuzzed options");
    a.add("epochs", &i32, "int").add("batch-size", &i64, "int64").add("seed", &u64, "uint64");
    a.add("lr", &f32, "float").add("ratio", &f64, "double").add("resume", &flag, "bool");
    a.add("model", &text, "string").positional("file", &file, "positional");
    try {
        if (a.parse(argv)) {
            a.changed();
            a.value("lr");
        }
    } catch (const nn::Error&) {
    }
    try {
        nn::ModelSpec spec = nn::ModelSpec::parse(argv[0]);
        spec.str();
        spec.ints("hidden", {300, 100});
    } catch (const nn::Error&) {
    }
    return 0;
}

FUZZ_ENTRY(args)
