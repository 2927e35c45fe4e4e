// Catch2 runner. Tests run single-threaded unless they set the pool size themselves. A listener
// writes "<passed> <failed>" test-case counts to $SECATEURS_TEST_COUNTS (when set) so that CI can
// report totals while the console reporter stays readable.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>

#include "nn/threads.hpp"

namespace {

struct CountListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        (stats.totals.assertions.allOk() ? passed : failed)++;
    }
    void testRunEnded(const Catch::TestRunStats&) override {
        const char* path = std::getenv("SECATEURS_TEST_COUNTS");
        if (!path || !*path) return;
        if (FILE* f = std::fopen(path, "w")) {
            std::fprintf(f, "%d %d\n", passed, failed);
            std::fclose(f);
        }
    }
    int passed = 0, failed = 0;
};

}  // namespace

CATCH_REGISTER_LISTENER(CountListener)

int main(int argc, char** argv) {
    nn::set_num_threads(1);
    return Catch::Session().run(argc, argv);
}
