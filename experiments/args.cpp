#include "experiments/args.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "nn/check.hpp"

namespace experiments {

void Args::register_option(const std::string& name, Ptr p, const std::string& help) {
    for (auto& o : options_) ENSURE(o.name != name, program_, ": option --", name, " registered twice");
    options_.push_back(Option{name, help, text_of(p), p, false});
}

Args& Args::positional(const std::string& name, std::string* v, const std::string& help) {
    options_.push_back(Option{name, help, *v, Ptr(v), true});
    return *this;
}

std::string Args::text_of(const Ptr& p) {
    return std::visit(
        [](auto* v) -> std::string {
            using T = std::remove_pointer_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) return *v;
            else if constexpr (std::is_same_v<T, bool>) return *v ? "true" : "false";
            else if constexpr (std::is_floating_point_v<T>) {
                char buf[64];
                std::snprintf(buf, sizeof buf, "%g", double(*v));
                return buf;
            } else return std::to_string(*v);
        },
        p);
}

void Args::set(Option& o, const std::string& text) {
    o.given = true;
    const std::string flag = o.is_positional ? o.name : "--" + o.name;
    std::visit(
        [&](auto* v) {
            using T = std::remove_pointer_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                *v = text;
            } else if constexpr (std::is_same_v<T, bool>) {
                if (text == "true" || text == "1" || text == "yes" || text == "on") *v = true;
                else if (text == "false" || text == "0" || text == "no" || text == "off") *v = false;
                else RAISE(program_, ": ", flag, " expects true or false, got '", text, "'");
            } else if constexpr (std::is_floating_point_v<T>) {
                char* end = nullptr;
                errno = 0;
                double d = std::strtod(text.c_str(), &end);
                ENSURE(!text.empty() && *end == 0 && errno == 0 && std::isfinite(d), program_, ": ", flag,
                       " expects a number, got '", text, "'");
                *v = T(d);
            } else {
                char* end = nullptr;
                errno = 0;
                bool neg = !text.empty() && text[0] == '-';
                ENSURE(!(std::is_unsigned_v<T> && neg), program_, ": ", flag, " expects a non-negative integer, got '",
                       text, "'");
                long long x = std::strtoll(text.c_str(), &end, 10);
                ENSURE(!text.empty() && *end == 0 && errno == 0, program_, ": ", flag, " expects an integer, got '",
                       text, "'");
                if constexpr (std::is_same_v<T, int>)
                    ENSURE(x >= INT32_MIN && x <= INT32_MAX, program_, ": ", flag, " value ", text, " is out of range");
                *v = T(x);
            }
        },
        o.ptr);
}

bool Args::parse(int argc, char** argv) {
    std::vector<std::string> a;
    for (int i = 1; i < argc; i++) a.emplace_back(argv[i]);
    return parse(a);
}

bool Args::parse(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(help().c_str(), stdout);
            return false;
        }
        if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
            std::vector<Option*> positionals;
            for (auto& o : options_)
                if (o.is_positional) positionals.push_back(&o);
            ENSURE(next_positional_ < positionals.size(), program_, ": unexpected argument '", arg, "' (see --help)");
            set(*positionals[next_positional_++], arg);
            continue;
        }
        std::string name = arg.substr(2), value;
        bool has_value = false;
        size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        Option* opt = nullptr;
        for (auto& o : options_)
            if (!o.is_positional && o.name == name) opt = &o;
        ENSURE(opt, program_, ": unknown option --", name, " (see --help)");
        if (!has_value) {
            auto is_bool_word = [](const std::string& w) {
                for (const char* b : {"true", "false", "1", "0", "yes", "no", "on", "off"})
                    if (w == b) return true;
                return false;
            };
            // A bare bool flag means true; it takes the next word only when that is a bool literal.
            if (std::holds_alternative<bool*>(opt->ptr) && (i + 1 >= args.size() || !is_bool_word(args[i + 1]))) {
                value = "true";
            } else {
                ENSURE(i + 1 < args.size(), program_, ": option --", name, " needs a value");
                value = args[++i];
            }
        }
        set(*opt, value);
    }
    return true;
}

std::string Args::help() const {
    std::string out = "usage: " + program_ + " [options]";
    for (auto& o : options_)
        if (o.is_positional) out += " <" + o.name + ">";
    out += "\n\n" + summary_ + "\n\n";
    for (auto& o : options_) {
        std::string left = o.is_positional ? "  <" + o.name + ">" : "  --" + o.name;
        if (left.size() < 26) left.resize(26, ' ');
        else left += "\n" + std::string(26, ' ');
        out += left + o.help;
        if (!o.default_text.empty() && !o.is_positional) out += " (default: " + o.default_text + ")";
        out += "\n";
    }
    return out;
}

std::vector<std::string> Args::changed() const {
    std::vector<std::string> out;
    for (auto& o : options_) {
        std::string now = text_of(o.ptr);
        if (!o.is_positional && now != o.default_text) out.push_back(o.name + "=" + now);
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> Args::values() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& o : options_)
        if (!o.is_positional) out.emplace_back(o.name, text_of(o.ptr));
    return out;
}

bool Args::given(const std::string& name) const {
    for (auto& o : options_)
        if (o.name == name) return o.given;
    RAISE(program_, ": no option named ", name);
}

std::string Args::value(const std::string& name) const {
    for (auto& o : options_)
        if (o.name == name) return text_of(o.ptr);
    RAISE(program_, ": no option named ", name);
}

}  // namespace experiments
