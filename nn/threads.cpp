// Workers spin briefly on a generation counter (a training step issues thousands of small parallel
// regions; a condition-variable wake-up costs more than many of them), then sleep on a condition
// variable so an idle process does not burn a core. The caller of a region likewise spins briefly
// for the workers to finish, then yields its core.
#include "nn/threads.hpp"

#include <cblas.h>
#include <immintrin.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "nn/check.hpp"

namespace nn {
namespace {

thread_local bool t_inside_pool = false;
std::atomic<bool> g_flush_denormals{false};

constexpr unsigned kFtzDaz = 0x8040;  // MXCSR bits: flush-to-zero (15) and denormals-are-zero (6)

// Spin lengths in pause instructions (~50 ns each on this class of x86): the caller of a region
// waits ~0.1 ms for its workers before yielding; an idle worker waits ~1 ms for the next region
// before sleeping (see worker_loop).
constexpr int kCallerSpins = 2000;
constexpr int kWorkerSpins = 20000;

void apply_denormal_mode(bool on) { _mm_setcsr(on ? (_mm_getcsr() | kFtzDaz) : (_mm_getcsr() & ~kFtzDaz)); }

class Pool {
public:
    ~Pool() { resize(1); }

    int size() const { return n_threads_; }

    void resize(int n) {
        if (n == n_threads_) return;
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
            generation_.fetch_add(1);
        }
        cv_.notify_all();
        for (auto& w : workers_) w.join();
        workers_.clear();
        stop_ = false;
        n_threads_ = n;
        // The generation is read here, not in the new thread: a thread that starts late must still
        // see every region (or stop request) issued after its creation.
        uint64_t start = generation_.load();
        for (int t = 1; t < n; t++) workers_.emplace_back([this, t, start] { worker_loop(t, start); });
    }

    void run(const std::function<void(int)>& fn) {
        if (n_threads_ == 1 || t_inside_pool) {
            for (int t = 0; t < n_threads_; t++) fn(t);
            return;
        }
        std::lock_guard<std::mutex> run_lock(run_mu_);  // one parallel region at a time
        job_ = &fn;
        pending_.store(n_threads_ - 1);
        {
            std::lock_guard<std::mutex> lock(mu_);
            generation_.fetch_add(1);
        }
        cv_.notify_all();
        t_inside_pool = true;
        fn(0);
        t_inside_pool = false;
        // Spin briefly, then yield: on a machine with more runnable threads than cores the worker we
        // wait for may be descheduled, and spinning would only keep it off the core longer.
        for (int i = 0; pending_.load(std::memory_order_acquire) != 0; i++) {
            if (i < kCallerSpins)
                _mm_pause();
            else
                std::this_thread::yield();
        }
        job_ = nullptr;
    }

private:
    void worker_loop(int t, uint64_t seen) {
        t_inside_pool = true;
        apply_denormal_mode(g_flush_denormals.load());
        for (;;) {
            // Spin ~1 ms before sleeping: most regions follow each other within microseconds, and
            // the serial stretches between them (autograd bookkeeping, allocation) last up to about
            // a millisecond in a mini-BERT step; a worker asleep by then costs a wake-up per region.
            uint64_t g = seen;
            for (int i = 0; i < kWorkerSpins && (g = generation_.load(std::memory_order_acquire)) == seen; i++)
                _mm_pause();
            if (g == seen) {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return generation_.load() != seen; });
                g = generation_.load();
            }
            seen = g;
            if (stop_) return;
            (*job_)(t);
            pending_.fetch_sub(1, std::memory_order_release);
        }
    }

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex mu_, run_mu_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    const std::function<void(int)>* job_ = nullptr;
    bool stop_ = false;
};

Pool& pool() {
    static Pool p;
    return p;
}

}  // namespace

void set_num_threads(int n) {
    if (n <= 0) n = int(std::thread::hardware_concurrency());
    ENSURE(n >= 1 && n <= 256, "thread count must be in 1..256, got ", n);
    openblas_set_num_threads(1);
    pool().resize(n);
}

int num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t max_chunks = (n + grain - 1) / grain;
    int n_chunks = int(std::min<int64_t>(num_threads(), max_chunks));
    if (n_chunks <= 1 || t_inside_pool) {
        fn(0, n);
        return;
    }
    pool().run([&](int t) {
        if (t >= n_chunks) return;
        int64_t b, e;
        chunk_range(n, n_chunks, t, b, e);
        if (b < e) fn(b, e);
    });
}

void parallel_run(const std::function<void(int)>& fn) { pool().run(fn); }

bool inside_parallel_region() { return t_inside_pool; }

bool set_flush_denormals(bool on) {
    bool previous = g_flush_denormals.exchange(on);
    pool().run([on](int) { apply_denormal_mode(on); });
    return previous;
}

bool flush_denormals() { return g_flush_denormals.load(); }

}  // namespace nn
