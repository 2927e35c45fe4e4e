// secateurs info FILE: what a safetensors file holds.
#include <cstdio>

#include "experiments/args.hpp"
#include "experiments/cli.hpp"
#include "nn/check.hpp"
#include "nn/safetensors.hpp"

namespace experiments {

int cmd_info(const Argv& argv) {
    std::string path;
    Args args("secateurs info", "List the tensors (name, dtype, shape, bytes) and the metadata of a safetensors file.");
    args.positional("file", &path, "the .safetensors file");
    if (!args.parse(argv)) return 0;
    ENSURE(!path.empty(), "a FILE argument is required");
    nn::st::File f = nn::st::File::read(path);
    int64_t total_params = 0, total_bytes = 0;
    std::printf("%-48s %-5s %-20s %12s\n", "tensor", "dtype", "shape", "bytes");
    for (auto& e : f.entries()) {
        std::string shape = "[";
        for (size_t i = 0; i < e.shape.size(); i++) shape += (i ? ", " : "") + std::to_string(e.shape[i]);
        shape += "]";
        std::printf("%-48s %-5s %-20s %12zu\n", e.name.c_str(), nn::st::dtype_name(e.dtype), shape.c_str(), e.bytes.size());
        total_params += e.numel();
        total_bytes += int64_t(e.bytes.size());
    }
    std::printf("%zu tensors, %lld values, %lld bytes\n", f.entries().size(), (long long)total_params, (long long)total_bytes);
    if (!f.metadata.empty()) {
        std::printf("metadata:\n");
        for (auto& [k, v] : f.metadata) {
            // Long values (a vocabulary) are shown by their start; the file holds them whole.
            bool long_value = v.size() > 200 || v.find('\n') != std::string::npos;
            std::string shown = long_value ? v.substr(0, std::min<size_t>(v.find('\n'), 60)) + " ..." : v;
            if (long_value) shown += " (" + std::to_string(v.size()) + " bytes)";
            std::printf("  %s = %s\n", k.c_str(), shown.c_str());
        }
    }
    return 0;
}

}  // namespace experiments
