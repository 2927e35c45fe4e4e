// Which OpenBLAS kernels run. Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) picks its kernels from the CPU
// model at load time and falls back to its SSE3 "Prescott" kernels on CPUs it does not know, such as
// recent Xeons; there they are ~3x slower than its AVX-512 ("SkylakeX") kernels. The choice can only
// be made through OPENBLAS_CORETYPE before the library loads.
#pragma once

#include <string>

namespace nn {

// Call first thing in main(). When OPENBLAS_CORETYPE is unset and OpenBLAS fell back to a core older
// than the CPU's instruction set (AVX-512 -> SkylakeX, AVX2 -> Haswell), sets it and re-executes the
// program once with the same arguments. An OPENBLAS_CORETYPE set by the user is always respected.
void select_blas_core(char** argv);

// The OpenBLAS core in use (openblas_get_corename), e.g. "SkylakeX".
std::string blas_core_name();
// The core and who chose it, for reports: "Cooperlake (OpenBLAS's own choice)", "SkylakeX (chosen
// by select_blas_core)" or "Haswell (OPENBLAS_CORETYPE=Haswell in the environment)". A core forced by
// the environment can be far slower than the CPU allows, which changes every ratio against OpenBLAS.
std::string blas_core_description();

}  // namespace nn
