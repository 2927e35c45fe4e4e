// Caching allocator for tensor storage. Freed blocks go to a free list of their size class and are
// reused by the next request of that class, so a steady-state training step touches no new pages
// (first-touch page faults cost ~11 us per 4 KiB page on the VMs we run on). It never returns memory
// to the OS unless asked (alloc_release_cached). It does not track ownership: Storage does that.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nn {

// 64-byte aligned block of at least `bytes` bytes; never null (throws nn::Error when out of memory).
void* alloc_bytes(size_t bytes);
// Returns a block obtained from alloc_bytes(bytes) with the same `bytes`.
void alloc_free(void* ptr, size_t bytes);

struct AllocStats {
    uint64_t n_alloc = 0;       // requests served
    uint64_t n_system = 0;      // requests that went to the system allocator (cache misses)
    uint64_t bytes_live = 0;    // bytes handed out and not yet freed (rounded to size classes)
    uint64_t bytes_cached = 0;  // bytes sitting in free lists
};
AllocStats alloc_stats();
// Gives every cached block back to the system (e.g. between experiments of very different sizes).
void alloc_release_cached();

// Number of minor page faults of this process so far (getrusage); used by benchmarks and tests.
uint64_t page_faults_minor();

// Keeps glibc malloc from handing freed heap memory back to the OS (trim threshold 1 GiB) and from
// serving large requests by mmap (threshold 1 GiB), so that the small allocations of every step
// (graph nodes, closures) stop re-faulting pages the heap gave back; the setting the PyTorch
// reference gets through GLIBC_TUNABLES. Process-wide; programs call it once at start.
void retain_heap_memory();

}  // namespace nn
