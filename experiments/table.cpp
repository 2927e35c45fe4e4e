#include "experiments/table.hpp"

#include <cstdio>
#include <cstdlib>

#include "nn/check.hpp"
#include "nn/io.hpp"

namespace experiments {

std::string fmt(double v, int significant) {
    if (std::isnan(v)) return "";
    char b[48];
    std::snprintf(b, sizeof b, "%.*g", significant, v);
    return b;
}

std::string fmt_fixed(double v, int decimals) {
    if (!std::isfinite(v)) return "–";
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

Stats stats_of(const std::vector<double>& values) {
    Stats s;
    double sum = 0;
    for (double v : values)
        if (!std::isnan(v)) {
            sum += v;
            s.n++;
        }
    if (s.n == 0) return s;
    s.mean = sum / s.n;
    double ss = 0;
    for (double v : values)
        if (!std::isnan(v)) ss += (v - s.mean) * (v - s.mean);
    s.std = s.n > 1 ? std::sqrt(ss / (s.n - 1)) : 0.0;
    return s;
}

void Table::add(const std::vector<std::string>& row) {
    ENSURE(row.size() == columns_.size(), "table row has ", row.size(), " values for ", columns_.size(), " columns");
    rows_.push_back(row);
}

bool Table::has_column(const std::string& name) const {
    for (auto& c : columns_)
        if (c == name) return true;
    return false;
}

int Table::column(const std::string& name) const {
    for (size_t i = 0; i < columns_.size(); i++)
        if (columns_[i] == name) return int(i);
    std::string cols;
    for (auto& c : columns_) cols += (cols.empty() ? "" : ", ") + c;
    RAISE("table has no column '", name, "' (columns: ", cols, ")");
}

const std::string& Table::get(size_t r, const std::string& col) const {
    ENSURE(r < rows_.size(), "table row ", r, " out of range (", rows_.size(), " rows)");
    return rows_[r][size_t(column(col))];
}

double Table::num(size_t r, const std::string& col) const {
    const std::string& s = get(r, col);
    if (s.empty()) return NAN;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    ENSURE(end && *end == 0, "table column '", col, "' row ", r, " is not a number: '", s, "'");
    return v;
}

std::vector<std::string> Table::distinct(const std::string& col) const {
    int c = column(col);
    std::vector<std::string> out;
    for (auto& r : rows_) {
        bool seen = false;
        for (auto& o : out) seen = seen || o == r[size_t(c)];
        if (!seen) out.push_back(r[size_t(c)]);
    }
    return out;
}

Table Table::where(const std::vector<std::pair<std::string, std::string>>& conditions) const {
    Table out(columns_);
    std::vector<std::pair<int, std::string>> idx;
    for (auto& [c, v] : conditions) idx.push_back({column(c), v});
    for (auto& r : rows_) {
        bool ok = true;
        for (auto& [c, v] : idx) ok = ok && r[size_t(c)] == v;
        if (ok) out.rows_.push_back(r);
    }
    return out;
}

void Table::append(const Table& other, const std::string& what) {
    if (columns_.empty() && rows_.empty()) columns_ = other.columns_;
    ENSURE(other.columns_ == columns_, what, ": columns differ from the table being merged into");
    rows_.insert(rows_.end(), other.rows_.begin(), other.rows_.end());
}

namespace {

std::string csv_field(const std::string& s) {
    bool quote = s.find_first_of(",\"\n\r") != std::string::npos;
    if (!quote) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}

}  // namespace

std::string Table::csv() const {
    std::string out;
    auto line = [&](const std::vector<std::string>& r) {
        for (size_t i = 0; i < r.size(); i++) {
            if (i) out += ',';
            out += csv_field(r[i]);
        }
        out += '\n';
    };
    line(columns_);
    for (auto& r : rows_) line(r);
    return out;
}

Table Table::parse_csv(const std::string& text, const std::string& what) {
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> rec;
    std::string field;
    bool in_quotes = false, field_started = false;
    int line = 1;
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (in_quotes) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field += '"';
                    i++;
                } else {
                    in_quotes = false;
                }
            } else {
                if (c == '\n') line++;
                field += c;
            }
            continue;
        }
        if (c == '"') {
            ENSURE(!field_started || field.empty(), what, ":", line, ": quote inside an unquoted field");
            in_quotes = true;
            field_started = true;
        } else if (c == ',') {
            rec.push_back(field);
            field.clear();
            field_started = false;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') i++;
            rec.push_back(field);
            records.push_back(rec);
            rec.clear();
            field.clear();
            field_started = false;
            line++;
        } else {
            field += c;
            field_started = true;
        }
    }
    ENSURE(!in_quotes, what, ": unterminated quoted field");
    if (field_started || !rec.empty()) {
        rec.push_back(field);
        records.push_back(rec);
    }
    ENSURE(!records.empty(), what, ": empty CSV (no header)");
    Table t(records[0]);
    for (size_t r = 1; r < records.size(); r++) {
        ENSURE(records[r].size() == t.columns_.size(), what, ":", r + 1, ": ", records[r].size(), " fields, header has ",
               t.columns_.size());
        t.rows_.push_back(records[r]);
    }
    return t;
}

Table Table::read(const std::string& path) { return parse_csv(nn::io::read_text(path), path); }

void Table::write(const std::string& path) const { nn::io::write_text_atomic(path, csv()); }

}  // namespace experiments
