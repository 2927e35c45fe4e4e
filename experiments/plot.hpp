// SVG charts written by the project, for the experiment report: line charts with error bands,
// scatter plots, grouped bars, heatmaps and histograms. Each function returns a standalone <svg>
// document (labelled axes, legend, title) that browsers render as is and that can be inlined into
// HTML. Not a plotting library: fixed size, one style, only what the report needs. NaN values are
// skipped (a gap in a line, a missing bar).
#pragma once

#include <cmath>
#include <string>
#include <vector>

namespace experiments::plot {

struct Axes {
    std::string title, xlabel, ylabel;
    bool log_x = false;     // logarithmic x axis (e.g. density from 100 % down to 1 %)
    bool percent_x = false; // tick labels as percentages of fractions (0.9 -> 90 %)
    bool percent_y = false;
    double x_min = NAN, x_max = NAN, y_min = NAN, y_max = NAN;  // NaN: from the data
    int width = 640, height = 400;
};

struct Series {
    std::string label;
    std::vector<double> x, y;
    std::vector<double> err;  // optional half-width of a band around y (e.g. std over seeds)
    bool dashed = false;
};

// Text for SVG or HTML: & < > " as entities.
std::string xml_escape(const std::string& s);

std::string line_chart(const Axes& axes, const std::vector<Series>& series);
std::string scatter(const Axes& axes, const std::vector<Series>& series);
// One cluster of bars per group; series[i].y[g] is the bar of series i in group g (err optional).
std::string grouped_bars(const Axes& axes, const std::vector<std::string>& groups, const std::vector<Series>& series);
// values[r][c] drawn as a colour (low = light, high = dark), with the number written in each cell.
std::string heatmap(const Axes& axes, const std::vector<std::string>& row_labels,
                    const std::vector<std::string>& col_labels, const std::vector<std::vector<double>>& values,
                    bool percent_values = false);
// Histogram of each series' x values over `bins` shared bins (overlaid, translucent).
std::string histogram(const Axes& axes, const std::vector<Series>& samples, int bins);

// "Nice" tick positions covering [lo, hi] (steps of 1, 2 or 5 times a power of ten).
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace experiments::plot
