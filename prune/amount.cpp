#include "prune/amount.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "nn/check.hpp"

namespace prune {

int64_t round_half_even(double x) {
    ENSURE(std::isfinite(x) && std::fabs(x) < 9.0e15, "cannot round ", x, " to an integer");
    double fl = std::floor(x), diff = x - fl;
    if (diff > 0.5) return int64_t(fl) + 1;
    if (diff < 0.5) return int64_t(fl);
    int64_t lo = int64_t(fl);
    return lo % 2 == 0 ? lo : lo + 1;  // exactly half: to the even neighbour
}

Amount Amount::fraction(double f) {
    ENSURE(f >= 0.0 && f <= 1.0, "amount=", f, " should either be a float in the range [0, 1] or a non-negative integer");
    Amount a;
    a.fraction_ = f;
    return a;
}

Amount Amount::count(int64_t n) {
    ENSURE(n >= 0, "amount=", n, " should either be a float in the range [0, 1] or a non-negative integer");
    Amount a;
    a.is_count_ = true;
    a.count_ = n;
    return a;
}

Amount Amount::parse(const std::string& text, const std::string& what) {
    ENSURE(!text.empty(), what, ": empty amount (expected a fraction like 0.5 or a count like 100)");
    bool is_float = text.find_first_of(".eEnN") != std::string::npos;  // nan/inf are floats too
    const char* s = text.c_str();
    char* end = nullptr;
    errno = 0;
    if (is_float) {
        double v = std::strtod(s, &end);
        ENSURE(end == s + text.size() && errno == 0, what, ": amount '", text, "' is not a number");
        ENSURE(v >= 0.0 && v <= 1.0, what, ": amount=", text,
               " should either be a float in the range [0, 1] or a non-negative integer");
        return fraction(v);
    }
    long long v = std::strtoll(s, &end, 10);
    ENSURE(end == s + text.size() && errno == 0, what, ": amount '", text, "' is not a number");
    ENSURE(v >= 0, what, ": amount=", text, " should either be a float in the range [0, 1] or a non-negative integer");
    return count(v);
}

int64_t Amount::units_to_prune(int64_t n_units, const std::string& what) const {
    int64_t n = is_count_ ? count_ : round_half_even(fraction_ * double(n_units));
    ENSURE(n <= n_units, "amount=", n, " should be smaller than the number of parameters to prune=", n_units,
           what.empty() ? "" : " (", what, what.empty() ? "" : ")");
    return n;
}

std::string Amount::str() const {
    if (is_count_) return std::to_string(count_);
    char buf[32];
    for (int digits = 1; digits <= 17; digits++) {  // the shortest text that reads back exactly
        std::snprintf(buf, sizeof buf, "%.*g", digits, fraction_);
        if (std::strtod(buf, nullptr) == fraction_) break;
    }
    std::string s = buf;
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a float literal
    return s;
}

}  // namespace prune
