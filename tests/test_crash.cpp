// Kill -9 tests: `secateurs train` runs as a subprocess and is killed (by its own fault injection at
// chosen instants, and from outside at whatever instant the poll lands on), resumed with --resume,
// and must end with files byte-identical to an uninterrupted run with the same seed and threads:
// final weights, the full training state, the best checkpoint, and the metrics rows. Also the
// command line's own failure path for an unusable output directory.
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "nn/io.hpp"
#include "nn/safetensors.hpp"
#include "subprocess.hpp"

namespace {

std::vector<std::string> train_command(const std::string& out, int threads) {
    // 1800 training examples, batch 50: 36 steps per epoch, 72 in all; checkpoints every 7 steps and at
    // each epoch end; a validation row every 6 steps.
    return {testing::secateurs_bin(), "train", "--model", "lenet300", "--train-subset", "2000", "--val", "200",
            "--batch-size", "50", "--epochs", "2", "--checkpoint-every", "7", "--keep-checkpoints", "2",
            "--eval-every", "6", "--seed", "3", "--threads", std::to_string(threads), "--out", out};
}

void require_same_bytes(const std::string& a, const std::string& b) {
    std::vector<uint8_t> x = nn::io::read_file(a), y = nn::io::read_file(b);
    size_t i = 0;
    while (i < x.size() && i < y.size() && x[i] == y[i]) i++;
    INFO(a << " vs " << b << ": " << x.size() << " vs " << y.size() << " bytes, first difference at byte " << i);
    REQUIRE((x.size() == y.size() && i == x.size()));
}

// Complete metrics rows without the wall-clock columns (seconds, images/s).
std::vector<std::string> metrics_rows(const std::string& path) {
    std::string text = nn::io::read_text(path);
    std::vector<std::string> rows;
    size_t pos = 0, nl;
    while ((nl = text.find('\n', pos)) != std::string::npos) {
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        size_t cut = line.size();
        for (int k = 0; k < 2 && cut != std::string::npos; k++) cut = line.rfind(',', cut - 1);
        rows.push_back(line.substr(0, cut));
    }
    return rows;
}

int64_t step_of(const std::string& checkpoint) {
    return std::stoll(nn::st::File::read(checkpoint).metadata.at("trainer.step"));
}

// Temporary files left in `dir` by killed writers, without their "-<pid>" suffix.
std::vector<std::string> temp_files(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& name : nn::io::list_dir(dir))
        if (name.find(".tmp-") != std::string::npos) out.push_back(name.substr(0, name.find(".tmp-") + 4));
    return out;
}

void require_same_run(const std::string& ref, const std::string& dir) {
    for (const char* f : {"model.safetensors", "last.safetensors", "best.safetensors", "checkpoint-72.safetensors",
                          "checkpoint-70.safetensors"})
        require_same_bytes(nn::io::join(ref, f), nn::io::join(dir, f));
    auto a = metrics_rows(nn::io::join(ref, "metrics.csv")), b = metrics_rows(nn::io::join(dir, "metrics.csv"));
    REQUIRE(a.size() == 13);  // header + rows at steps 6, 12, ..., 72 (36 and 72 are also epoch ends)
    REQUIRE(a == b);          // every row once, none duplicated, identical values
    REQUIRE(temp_files(dir).empty());
    REQUIRE(nn::io::list_dir(dir) == nn::io::list_dir(ref));  // the kept checkpoints: 70, 72, last
}

std::string fresh_dir(const std::string& name) {
    std::filesystem::remove_all(name);
    return name;
}

// The uninterrupted run, made once per thread count and test process, removed when the process ends.
std::string reference_run(int threads) {
    struct Made {
        std::set<int> threads;
        ~Made() {
            for (int t : threads) std::filesystem::remove_all("test-crash-ref-t" + std::to_string(t));
        }
    };
    static Made made;
    std::string ref = "test-crash-ref-t" + std::to_string(threads), log = ref + ".log";
    if (made.threads.insert(threads).second) {
        fresh_dir(ref);
        std::remove(log.c_str());
        testing::ExitStatus s = testing::run(train_command(ref, threads), log);
        INFO("log: " << log);
        REQUIRE(s.ok());
        std::remove(log.c_str());
    }
    return ref;
}

}  // namespace

TEST_CASE("crash: killed at chosen instants, a resumed training run is bit-identical", "[trainer][crash]") {
    std::string ref = reference_run(1);
    std::string dir = fresh_dir("test-crash-points"), log = dir + ".log";
    std::remove(log.c_str());
    auto command = train_command(dir, 1);
    auto kill_at = [&](const std::string& point, bool resume) {
        auto argv = command;
        if (resume) argv.push_back("--resume");
        argv.insert(argv.end(), {"--crash-at", point});
        testing::ExitStatus s = testing::run(argv, log);
        INFO("crash point " << point << ", log " << log);
        REQUIRE(s.killed_by(SIGKILL));
    };
    const std::string last = nn::io::join(dir, "last.safetensors");

    kill_at("10", false);  // between checkpoints: steps 8..10 are lost and replayed
    REQUIRE(step_of(last) == 7);

    kill_at("14:write", true);  // mid-write: the temporary file is complete but not in place
    REQUIRE(step_of(last) == 7);
    REQUIRE_FALSE(nn::io::exists(nn::io::join(dir, "checkpoint-14.safetensors")));
    REQUIRE(temp_files(dir) == std::vector<std::string>{"checkpoint-14.safetensors.tmp"});

    kill_at("21:link", true);  // checkpoint-21 is in place, last still names step 14
    REQUIRE(step_of(last) == 14);
    REQUIRE(step_of(nn::io::join(dir, "checkpoint-21.safetensors")) == 21);
    // The resumed run removed the first killed writer's temporary file; this kill left a link's.
    REQUIRE(temp_files(dir) == std::vector<std::string>{"last.safetensors.tmp"});

    kill_at("36", true);  // at an epoch end, before the epoch's evaluation and checkpoint
    REQUIRE(step_of(last) == 35);

    kill_at("50", true);  // mid second epoch
    REQUIRE(step_of(last) == 49);

    auto argv = command;
    argv.push_back("--resume");
    REQUIRE(testing::run(argv, log).ok());
    require_same_run(ref, dir);
    std::filesystem::remove_all(dir);
    std::remove(log.c_str());  // kept when the test fails
}

TEST_CASE("crash: the generic kill-and-resume protocol with two threads", "[trainer][crash]") {
    std::string ref = reference_run(2);
    std::string dir = fresh_dir("test-crash-protocol"), log = dir + ".log";
    std::remove(log.c_str());
    testing::run_killed_and_resumed(train_command(dir, 2), {"8", "28:write", "60"}, log);
    require_same_run(ref, dir);
    std::filesystem::remove_all(dir);
    std::remove(log.c_str());
}

TEST_CASE("crash: kill -9 from outside at whatever instant, then resume", "[trainer][crash]") {
    std::string ref = reference_run(1);
    std::string dir = fresh_dir("test-crash-async"), log = dir + ".log";
    std::remove(log.c_str());
    const std::string metrics = nn::io::join(dir, "metrics.csv");
    // Kills the run as soon as metrics.csv shows a row at or past `step` (so the kill lands at an
    // unpredictable point of the following steps, evaluations or checkpoint writes).
    auto run_and_kill_after = [&](int64_t step, bool resume) {
        auto argv = train_command(dir, 1);
        if (resume) argv.push_back("--resume");
        pid_t pid = testing::spawn(argv, log);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
        off_t seen_size = -1;
        bool killed = false;
        while (!killed && std::chrono::steady_clock::now() < deadline) {
            struct stat st{};
            if (::stat(metrics.c_str(), &st) == 0 && st.st_size != seen_size) {
                seen_size = st.st_size;
                auto rows = metrics_rows(metrics);
                if (rows.size() > 1 && std::stoll(rows.back()) >= step) {
                    ::kill(pid, SIGKILL);
                    killed = true;
                }
            }
            int status;
            if (!killed && ::waitpid(pid, &status, WNOHANG) == pid) {
                FAIL("the run finished before it could be killed (log: " << log << ")");
            }
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        REQUIRE(killed);
        REQUIRE(testing::wait_for(pid).killed_by(SIGKILL));
    };
    run_and_kill_after(18, false);
    run_and_kill_after(42, true);
    auto argv = train_command(dir, 1);
    argv.push_back("--resume");
    REQUIRE(testing::run(argv, log).ok());
    require_same_run(ref, dir);
    std::filesystem::remove_all(dir);
    std::remove(log.c_str());  // kept when the test fails
}

namespace {

std::vector<std::string> imp_command(const std::string& out) {
    // 1000 training examples, batch 50: 20 steps per epoch, 40 per level, levels 0, 1 and 2; a
    // checkpoint every 7 steps and at each epoch end; a validation row every 5 steps.
    return {testing::secateurs_bin(), "imp", "--model", "lenet300", "--train-subset", "1200", "--val", "200",
            "--levels", "2", "--rate", "0.5", "--epochs", "2", "--batch-size", "50", "--eval-every", "5",
            "--checkpoint-every", "7", "--seed", "5", "--threads", "1", "--out", out};
}

// A results line (imp.csv row or done file) without its wall-clock column.
std::vector<std::string> without_seconds(const std::string& path) {
    std::vector<std::string> rows;
    for (auto& row : metrics_rows(path)) rows.push_back(row.substr(0, row.rfind(',')));
    return rows;
}

}  // namespace

TEST_CASE("crash: an IMP run killed mid-level and between levels resumes bit-identically", "[prune][imp][crash]") {
    std::string ref = fresh_dir("test-crash-imp-ref"), dir = fresh_dir("test-crash-imp"), log = dir + ".log";
    std::remove(log.c_str());
    {
        testing::ExitStatus s = testing::run(imp_command(ref), log);
        INFO("log: " << log);
        REQUIRE(s.ok());
    }
    auto command = imp_command(dir);
    // Mid-training of level 0 (steps 8..10 lost and replayed), between levels 0 and 1, inside a
    // checkpoint write of level 1, between level 1's model file and its done file (the level resumes
    // at its last step), mid level 2, and in level 2's checkpoint link.
    testing::run_killed_and_resumed(command, {"0/10", "0/done", "1/14:write", "1/model", "2/25", "2/35:link"}, log);
    for (int level = 0; level <= 2; level++) {
        std::string l = "level_0" + std::to_string(level);
        std::vector<std::string> files = {"model.safetensors", "last.safetensors", "best.safetensors", "report.csv"};
        if (level > 0) files.push_back("masks.safetensors");
        for (auto& f : files) require_same_bytes(nn::io::join(nn::io::join(ref, l), f), nn::io::join(nn::io::join(dir, l), f));
        REQUIRE(metrics_rows(nn::io::join(nn::io::join(ref, l), "metrics.csv")) ==
                metrics_rows(nn::io::join(nn::io::join(dir, l), "metrics.csv")));
        REQUIRE(without_seconds(nn::io::join(nn::io::join(ref, l), "done")) ==
                without_seconds(nn::io::join(nn::io::join(dir, l), "done")));
        REQUIRE(temp_files(nn::io::join(dir, l)).empty());
        REQUIRE(nn::io::list_dir(nn::io::join(dir, l)) == nn::io::list_dir(nn::io::join(ref, l)));
    }
    require_same_bytes(nn::io::join(ref, "theta_0.safetensors"), nn::io::join(dir, "theta_0.safetensors"));
    auto rows = without_seconds(nn::io::join(ref, "imp.csv"));
    REQUIRE(rows.size() == 4);  // header + levels 0, 1, 2
    REQUIRE(rows == without_seconds(nn::io::join(dir, "imp.csv")));
    // The masks are those of the uninterrupted run and did prune: level 2 keeps a quarter of fc1.
    nn::Tensor m = nn::st::File::read(nn::io::join(dir, "level_02/masks.safetensors")).tensor("fc1.weight_mask");
    double kept = 0;
    for (float v : m.to_vector()) kept += v;
    REQUIRE(kept == 300.0 * 784.0 / 4.0);

    // Without --resume an existing run is refused, naming the directory.
    std::remove(log.c_str());
    testing::ExitStatus s = testing::run(command, log);
    REQUIRE(s.code == 1);
    REQUIRE_THAT(nn::io::read_text(log), Catch::Contains("secateurs imp: error: " + dir +
                                                         ": holds an IMP run already; add --resume to continue it"));
    std::filesystem::remove_all(ref);
    std::filesystem::remove_all(dir);
    std::remove(log.c_str());  // kept when the test fails
}

TEST_CASE("cli: an unwritable or full output directory fails before training, in one line", "[cli][bad-input]") {
    std::string log = "test-cli-outdir.log";
    auto train = [&](const std::string& out) {
        return std::vector<std::string>{testing::secateurs_bin(), "train", "--train-subset", "500", "--val", "100",
                                        "--epochs", "1", "--out", out};
    };
    auto last_line = [&] {
        std::string text = nn::io::read_text(log), line;
        size_t end = text.find_last_not_of('\n');
        size_t start = text.rfind('\n', end);
        return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
    };
    SECTION("a directory that cannot be created") {
        std::remove(log.c_str());
        testing::ExitStatus s = testing::run(train("/proc/secateurs-no-such-dir/run"), log);
        REQUIRE(s.code == 1);
        REQUIRE_THAT(last_line(), Catch::StartsWith("secateurs train: error: /proc/secateurs-no-such-dir: cannot create directory"));
    }
    SECTION("a disk too full for the checkpoints (file-size limit)") {
        std::string dir = fresh_dir("test-cli-full");
        std::remove(log.c_str());
        testing::ExitStatus s = testing::run(train(dir), log, [] {
            rlimit r{1 << 20, 1 << 20};  // 1 MiB per file: the probe passes, the checkpoint reservation fails
            ::setrlimit(RLIMIT_FSIZE, &r);
        });
        REQUIRE(s.code == 1);  // an error, not death by SIGXFSZ
        REQUIRE_THAT(last_line(), Catch::StartsWith("secateurs train: error: " + dir + ": cannot reserve the ") &&
                                      Catch::Contains("File too large"));
        REQUIRE(nn::io::list_dir(dir).empty());
        std::filesystem::remove_all(dir);
    }
    std::remove(log.c_str());
}
