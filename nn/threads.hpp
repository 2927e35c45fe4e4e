// One thread pool for the whole process. OpenBLAS is kept on one thread (its own pthreads spin after
// every call and fight any other pool for the cores); we parallelise around it instead. Chunk
// boundaries depend only on the range, the grain and the thread count, so results are deterministic
// for a fixed thread count. Not a task scheduler: no futures, no nesting (a nested call runs inline).
#pragma once

#include <cstdint>
#include <functional>

namespace nn {

// Sets the pool size (>= 1; 0 means "number of cores") and pins OpenBLAS to one thread.
void set_num_threads(int n);
int num_threads();

// fn(begin, end) on disjoint contiguous chunks covering [0, n). At most num_threads() chunks, none
// smaller than `grain` items (so tiny ranges run inline on the caller).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// True on a pool thread while it runs a region (where parallel_for and parallel_run run inline).
bool inside_parallel_region();

// fn(t) once on each of num_threads() threads, t = 0 .. num_threads()-1 (t = 0 is the caller).
void parallel_run(const std::function<void(int)>& fn);

// Denormal floats (|x| < 1.2e-38) take a slow microcode path on x86 (up to ~100x per operation); a
// training run whose weights or gradients drift there can slow down badly. On: every pool thread and
// the caller flush denormal results to zero and read denormal inputs as zero (MXCSR FTZ + DAZ), and
// threads the pool starts later inherit the setting. Off restores IEEE behaviour. Returns the
// previous setting. The Trainer turns it on for the duration of fit() (TrainConfig::flush_denormals).
bool set_flush_denormals(bool on);
bool flush_denormals();

// The [begin, end) slice of [0, n) that chunk t of n_chunks gets (balanced, deterministic).
inline void chunk_range(int64_t n, int n_chunks, int t, int64_t& begin, int64_t& end) {
    int64_t base = n / n_chunks, rem = n % n_chunks;
    begin = t * base + (t < rem ? t : rem);
    end = begin + base + (t < rem ? 1 : 0);
}

}  // namespace nn
