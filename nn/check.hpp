// The one error path of the project: ENSURE(cond, values...) throws nn::Error whose message is the
// offending values followed by the failed condition and its file:line. Library code never exits;
// the command-line front end catches nn::Error and prints its message once.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace nn {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Builds "<msg> [check `cond` failed at file:line]" (or "[at file:line]" when cond is null) and
// throws nn::Error.
[[noreturn]] void throw_error(const char* file, int line, const char* cond, const std::string& msg);

template <class... Args>
std::string str_cat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}

}  // namespace nn

// ENSURE(cond, parts...): parts are streamed into the message (shapes, paths, byte offsets).
#define ENSURE(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) [[unlikely]]                                                          \
            ::nn::throw_error(__FILE__, __LINE__, #cond, ::nn::str_cat("" __VA_OPT__(, ) __VA_ARGS__)); \
    } while (0)

// RAISE(parts...): unconditional error with the same format (for switch defaults, parse errors).
#define RAISE(...) ::nn::throw_error(__FILE__, __LINE__, nullptr, ::nn::str_cat(__VA_ARGS__))
