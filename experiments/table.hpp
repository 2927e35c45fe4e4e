// A small CSV table of strings with typed accessors, used for experiment results (one file per sweep
// point, merged into results.csv) and report tables. Strict reader: quoted fields, a header, every
// row as wide as the header; anything else is one error naming the file and line.
#pragma once

#include <cmath>
#include <string>
#include <vector>

namespace experiments {

class Table {
public:
    Table() = default;
    explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}

    const std::vector<std::string>& columns() const { return columns_; }
    size_t size() const { return rows_.size(); }
    bool empty() const { return rows_.empty(); }
    const std::vector<std::string>& row(size_t r) const { return rows_[r]; }

    // Appends a row; values are formatted (doubles with %.6g, NaN as empty).
    void add(const std::vector<std::string>& row);
    int column(const std::string& name) const;  // throws naming the column and the table's columns
    bool has_column(const std::string& name) const;
    const std::string& get(size_t r, const std::string& col) const;
    double num(size_t r, const std::string& col) const;  // empty -> NaN; not a number -> error
    // Distinct values of a column, in first-seen order.
    std::vector<std::string> distinct(const std::string& col) const;
    // Rows where every (column, value) pair matches.
    Table where(const std::vector<std::pair<std::string, std::string>>& conditions) const;
    // Appends all rows of `other`, which must have the same columns.
    void append(const Table& other, const std::string& what = "table");

    std::string csv() const;
    static Table parse_csv(const std::string& text, const std::string& what);
    static Table read(const std::string& path);
    void write(const std::string& path) const;  // atomic

private:
    std::vector<std::string> columns_;
    std::vector<std::vector<std::string>> rows_;
};

std::string fmt(double v, int significant = 6);  // NaN -> ""
std::string fmt_fixed(double v, int decimals);   // NaN -> "–"

struct Stats {
    double mean = NAN, std = NAN;  // std: sample standard deviation (n-1); 0 for one value
    int n = 0;
};
Stats stats_of(const std::vector<double>& values);  // NaNs are ignored

}  // namespace experiments
