#include "nn/blas.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern "C" char* openblas_get_corename(void);

namespace nn {

std::string blas_core_name() { return openblas_get_corename(); }

std::string blas_core_description() {
    const std::string core = blas_core_name();
    if (std::getenv("SECATEURS_BLAS_REEXEC")) return core + " (chosen by select_blas_core)";
    if (const char* forced = std::getenv("OPENBLAS_CORETYPE"))
        return core + " (OPENBLAS_CORETYPE=" + forced + " in the environment)";
    return core + " (OpenBLAS's own choice)";
}

void select_blas_core(char** argv) {
    if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("SECATEURS_BLAS_REEXEC")) return;
    std::string core = blas_core_name();
    const char* want = nullptr;
    auto is_one_of = [&](std::initializer_list<const char*> names) {
        for (const char* n : names)
            if (strcasecmp(core.c_str(), n) == 0) return true;
        return false;
    };
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        !is_one_of({"SkylakeX", "Cooperlake", "SapphireRapids"}))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             !is_one_of({"Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator"}))
        want = "Haswell";
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("SECATEURS_BLAS_REEXEC", "1", 1);  // never loop, whatever the library does with it
    execv("/proc/self/exe", argv);
    // exec failed (no /proc?): carry on with the kernels we have.
    unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace nn
