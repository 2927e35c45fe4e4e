// Size classes: 64-byte granularity up to 4 KiB, then 8 classes per power of two (at most 12.5 %
// slack). One mutex guards the free lists; requests are per tensor, not per element, so contention
// is negligible. A request whose class has no free block takes one from the smallest non-empty class
// of at most twice its size: models whose shapes change from step to step (text batches padded to
// their longest sequence) would otherwise keep a full working set cached for every shape they have
// seen (gigabytes for the mini-BERT, whose evaluation batches hold 512 sequences).
#include "nn/alloc.hpp"

#include <malloc.h>
#include <sys/resource.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "nn/check.hpp"

namespace nn {
namespace {

size_t size_class(size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes <= 4096) return (bytes + 63) & ~size_t(63);
    int top = 63 - __builtin_clzll(bytes);          // bytes in [2^top, 2^(top+1))
    size_t step = size_t(1) << (top - 3);            // 8 classes per power of two
    return (bytes + step - 1) & ~(step - 1);
}

struct Cache {
    std::mutex mu;
    std::map<size_t, std::vector<void*>> free_lists;    // class -> free blocks of that class
    std::unordered_map<void*, size_t> borrowed;         // live blocks handed out for a smaller class
    AllocStats stats;
};

Cache& cache() {
    // Leaked on purpose: tensors with static lifetime may be freed after other statics are gone.
    static Cache* c = new Cache;
    return *c;
}

}  // namespace

void* alloc_bytes(size_t bytes) {
    size_t cls = size_class(bytes);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mu);
        c.stats.n_alloc++;
        for (auto it = c.free_lists.lower_bound(cls); it != c.free_lists.end() && it->first <= 2 * cls; ++it) {
            if (it->second.empty()) continue;
            void* p = it->second.back();
            it->second.pop_back();
            c.stats.bytes_cached -= it->first;
            c.stats.bytes_live += it->first;
            if (it->first != cls) c.borrowed[p] = it->first;
            return p;
        }
        c.stats.n_system++;
        c.stats.bytes_live += cls;
    }
    void* p = std::aligned_alloc(64, cls);
    ENSURE(p != nullptr, "out of memory allocating ", cls, " bytes");
    return p;
}

void alloc_free(void* ptr, size_t bytes) {
    if (!ptr) return;
    size_t cls = size_class(bytes);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.borrowed.empty()) {
        auto b = c.borrowed.find(ptr);
        if (b != c.borrowed.end()) {
            cls = b->second;
            c.borrowed.erase(b);
        }
    }
    c.free_lists[cls].push_back(ptr);
    c.stats.bytes_live -= cls;
    c.stats.bytes_cached += cls;
}

AllocStats alloc_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    return c.stats;
}

void alloc_release_cached() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    for (auto& [cls, list] : c.free_lists) {
        for (void* p : list) std::free(p);
        list.clear();
    }
    c.stats.bytes_cached = 0;
}

uint64_t page_faults_minor() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return uint64_t(ru.ru_minflt);
}

void retain_heap_memory() {
    mallopt(M_TRIM_THRESHOLD, 1 << 30);  // mallopt takes an int: 1 GiB rather than 4
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
}

}  // namespace nn
