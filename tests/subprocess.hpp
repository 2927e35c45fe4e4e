// Running the `secateurs` binary from tests: spawn with output to a log file, wait, kill, and the
// kill-and-resume protocol the crash tests use. The binary is $SECATEURS_BIN (meson sets it for the
// test runs), else `secateurs` next to the test executable.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "nn/io.hpp"

namespace testing {

inline std::string secateurs_bin() {
    const char* env = std::getenv("SECATEURS_BIN");
    if (env && *env) return env;
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    REQUIRE(n > 0);
    return nn::io::join(nn::io::dirname(std::string(buf, size_t(n))), "secateurs");
}

struct ExitStatus {
    int code = -1;    // exit code when the process exited
    int signal = 0;   // signal number when it was killed
    bool killed_by(int sig) const { return signal == sig; }
    bool ok() const { return signal == 0 && code == 0; }
};

// Starts argv (argv[0] is the program path) with stdout and stderr appended to `log`. `in_child`
// runs in the child just before exec (e.g. to set a resource limit).
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log,
                   const std::function<void()>& in_child = {}) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        if (in_child) in_child();
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

inline ExitStatus wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) REQUIRE(errno == EINTR);
    ExitStatus s;
    if (WIFEXITED(status)) s.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) s.signal = WTERMSIG(status);
    return s;
}

inline ExitStatus run(const std::vector<std::string>& argv, const std::string& log,
                      const std::function<void()>& in_child = {}) {
    return wait_for(spawn(argv, log, in_child));
}

// Runs `secateurs` with `args` and stdout + stderr to a log that is read into `output` and removed.
// Returns the exit code, or minus the signal that killed it.
inline int run_secateurs(std::vector<std::string> args, std::string& output,
                         const std::string& log = "test-secateurs.log") {
    args.insert(args.begin(), secateurs_bin());
    std::remove(log.c_str());
    ExitStatus s = run(args, log);
    output = nn::io::exists(log) ? nn::io::read_text(log) : "";
    std::remove(log.c_str());
    return s.signal ? -s.signal : s.code;
}

// The same with the arguments as one string of words separated by spaces (no quoting).
inline int run_secateurs(const std::string& args, std::string& output, const std::string& log = "test-secateurs.log") {
    return run_secateurs(nn::io::split_list(args, ' '), output, log);
}

// The kill-and-resume protocol, for any subcommand that takes --resume and --crash-at (train now;
// imp when it exists): runs `command` once per crash point with `--crash-at POINT` appended (every
// run after the first also with --resume), requiring each to die of SIGKILL, then once more with
// --resume to completion. Points must be in increasing step order: a point before the step a run
// resumes at never fires, and the run then finishing normally fails the test.
inline void run_killed_and_resumed(const std::vector<std::string>& command, const std::vector<std::string>& points,
                                   const std::string& log) {
    for (size_t i = 0; i < points.size(); i++) {
        std::vector<std::string> argv = command;
        if (i > 0) argv.push_back("--resume");
        argv.insert(argv.end(), {"--crash-at", points[i]});
        ExitStatus s = run(argv, log);
        INFO("crash point " << points[i] << ": exit code " << s.code << ", signal " << s.signal << " (log: " << log << ")");
        REQUIRE(s.killed_by(SIGKILL));
    }
    std::vector<std::string> argv = command;
    argv.push_back("--resume");
    ExitStatus s = run(argv, log);
    INFO("final resumed run: exit code " << s.code << ", signal " << s.signal << " (log: " << log << ")");
    REQUIRE(s.ok());
}

}  // namespace testing
