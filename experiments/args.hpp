// A typed option table for command-line programs: each option binds a name to a variable of its
// type, with a default (the variable's value at registration) and a help line. Parsing accepts
// "--name value" and "--name=value"; bools also take a bare "--name". Unknown options, missing or
// malformed values are one error naming the option. The same table drives the experiments'
// configurations (run folder names come from the options that differ from their defaults).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace experiments {

class Args {
public:
    Args(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

    Args& add(const std::string& name, int* v, const std::string& help) { return add_any(name, v, help); }
    Args& add(const std::string& name, int64_t* v, const std::string& help) { return add_any(name, v, help); }
    Args& add(const std::string& name, uint64_t* v, const std::string& help) { return add_any(name, v, help); }
    Args& add(const std::string& name, float* v, const std::string& help) { return add_any(name, v, help); }
    Args& add(const std::string& name, double* v, const std::string& help) { return add_any(name, v, help); }
    Args& add(const std::string& name, bool* v, const std::string& help) { return add_any(name, v, help); }
    Args& add(const std::string& name, std::string* v, const std::string& help) { return add_any(name, v, help); }
    // Positional arguments are collected in order; `positional` names them in the usage line.
    Args& positional(const std::string& name, std::string* v, const std::string& help);

    // Returns false when --help was given (help already printed to stdout); throws on errors.
    bool parse(int argc, char** argv);
    bool parse(const std::vector<std::string>& args);
    std::string help() const;

    // "name=value" for every option whose value differs from its default, in registration order.
    std::vector<std::string> changed() const;
    // Whether an option was set on the command line (by any parse so far), whatever its value.
    bool given(const std::string& name) const;
    // Current value of an option as text.
    std::string value(const std::string& name) const;
    // Every option's name and current value, in registration order.
    std::vector<std::pair<std::string, std::string>> values() const;

private:
    using Ptr = std::variant<int*, int64_t*, uint64_t*, float*, double*, bool*, std::string*>;
    struct Option {
        std::string name, help, default_text;
        Ptr ptr;
        bool is_positional = false;
        bool given = false;
    };
    template <class T>
    Args& add_any(const std::string& name, T* v, const std::string& help);
    static std::string text_of(const Ptr& p);
    void register_option(const std::string& name, Ptr p, const std::string& help);
    void set(Option& o, const std::string& text);

    std::string program_, summary_;
    std::vector<Option> options_;
    size_t next_positional_ = 0;
};

template <class T>
Args& Args::add_any(const std::string& name, T* v, const std::string& help) {
    register_option(name, Ptr(v), help);
    return *this;
}

}  // namespace experiments
