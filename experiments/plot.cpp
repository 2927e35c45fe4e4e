#include "experiments/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace experiments::plot {

std::string xml_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

namespace {

// Tableau 10: distinguishable, and readable by most colour-blind readers.
const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
const char* colour(size_t i) { return kPalette[i % 10]; }


std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

std::string label(double v, bool percent) {
    char b[32];
    if (percent) std::snprintf(b, sizeof b, "%g%%", std::round(v * 1000.0) / 10.0);
    else if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) std::snprintf(b, sizeof b, "%.2g", v);
    else std::snprintf(b, sizeof b, "%g", std::round(v * 1e4) / 1e4);
    return b;
}

bool finite(double v) { return std::isfinite(v); }

// Plot frame: data ranges mapped to pixels, with margins for labels and a legend column.
struct Frame {
    double x_lo, x_hi, y_lo, y_hi;
    bool log_x;
    int W, H, L = 72, R = 24, T = 44, B = 56;

    double px(double x) const {
        double a = log_x ? std::log10(x) : x, lo = log_x ? std::log10(x_lo) : x_lo, hi = log_x ? std::log10(x_hi) : x_hi;
        return L + (hi > lo ? (a - lo) / (hi - lo) : 0.5) * (W - L - R);
    }
    double py(double y) const { return T + (y_hi > y_lo ? (y_hi - y) / (y_hi - y_lo) : 0.5) * (H - T - B); }
};

void range_of(const std::vector<double>& v, double& lo, double& hi) {
    for (double a : v)
        if (finite(a)) {
            lo = std::min(lo, a);
            hi = std::max(hi, a);
        }
}

std::string header(const Axes& a, int width) {
    std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(a.height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(a.height) + "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s += "<text x=\"" + num(width / 2.0) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" +
         xml_escape(a.title) + "</text>\n";
    return s;
}

std::vector<double> log_ticks(double lo, double hi) {
    std::vector<double> t;
    for (int e = int(std::floor(std::log10(lo))) - 1; e <= int(std::ceil(std::log10(hi))) + 1; e++)
        for (double m : {1.0, 2.0, 5.0}) {
            double v = m * std::pow(10.0, e);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
        }
    return t;
}

// Axes lines, grid, ticks and axis labels.
std::string axes_svg(const Frame& f, const Axes& a, bool x_ticks = true) {
    std::string s;
    double l = f.L, r = f.W - f.R, t = f.T, b = f.H - f.B;
    std::vector<double> yt = nice_ticks(f.y_lo, f.y_hi);
    for (double v : yt) {
        double y = f.py(v);
        s += "<line x1=\"" + num(l) + "\" x2=\"" + num(r) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
             "\" stroke=\"#e5e5e5\"/>\n";
        s += "<text x=\"" + num(l - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" + label(v, a.percent_y) +
             "</text>\n";
    }
    if (x_ticks) {
        std::vector<double> xt = f.log_x ? log_ticks(f.x_lo, f.x_hi) : nice_ticks(f.x_lo, f.x_hi);
        for (double v : xt) {
            double x = f.px(v);
            s += "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(t) + "\" y2=\"" + num(b) +
                 "\" stroke=\"#f0f0f0\"/>\n";
            s += "<text x=\"" + num(x) + "\" y=\"" + num(b + 16) + "\" text-anchor=\"middle\">" + label(v, a.percent_x) +
                 "</text>\n";
        }
    }
    s += "<rect x=\"" + num(l) + "\" y=\"" + num(t) + "\" width=\"" + num(r - l) + "\" height=\"" + num(b - t) +
         "\" fill=\"none\" stroke=\"#333\"/>\n";
    s += "<text x=\"" + num((l + r) / 2) + "\" y=\"" + num(f.H - 14) + "\" text-anchor=\"middle\">" + xml_escape(a.xlabel) +
         "</text>\n";
    s += "<text transform=\"translate(16," + num((t + b) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
         xml_escape(a.ylabel) + "</text>\n";
    return s;
}

int legend_width(const std::vector<Series>& series) {
    size_t longest = 0;
    for (auto& s : series) longest = std::max(longest, s.label.size());
    return longest ? int(36 + 7 * longest) : 0;
}

std::string legend_svg(const std::vector<Series>& series, int x, int y, bool boxes) {
    std::string s;
    for (size_t i = 0; i < series.size(); i++) {
        if (series[i].label.empty()) continue;
        int yy = y + int(i) * 18;
        if (boxes)
            s += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(yy - 9) + "\" width=\"18\" height=\"10\" fill=\"" +
                 colour(i) + "\"/>\n";
        else
            s += "<line x1=\"" + std::to_string(x) + "\" x2=\"" + std::to_string(x + 18) + "\" y1=\"" + std::to_string(yy - 4) +
                 "\" y2=\"" + std::to_string(yy - 4) + "\" stroke=\"" + colour(i) + "\" stroke-width=\"2.5\"" +
                 (series[i].dashed ? " stroke-dasharray=\"6,3\"" : "") + "/>\n";
        s += "<text x=\"" + std::to_string(x + 24) + "\" y=\"" + std::to_string(yy) + "\">" + xml_escape(series[i].label) + "</text>\n";
    }
    return s;
}

// Frame over all series (including error bands), honouring explicit limits and padding y a little.
Frame make_frame(const Axes& a, const std::vector<Series>& series, int legend_w) {
    double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
    for (auto& s : series) {
        for (size_t i = 0; i < s.x.size(); i++) {
            if (!finite(s.x[i]) || i >= s.y.size() || !finite(s.y[i])) continue;
            if (a.log_x && s.x[i] <= 0) continue;
            xl = std::min(xl, s.x[i]);
            xh = std::max(xh, s.x[i]);
            double e = i < s.err.size() && finite(s.err[i]) ? s.err[i] : 0.0;
            yl = std::min(yl, s.y[i] - e);
            yh = std::max(yh, s.y[i] + e);
        }
    }
    if (!finite(xl)) xl = a.log_x ? 0.1 : 0, xh = 1;
    if (!finite(yl)) yl = 0, yh = 1;
    if (yh - yl < 1e-12) yl -= 0.5, yh += 0.5;
    double pad = 0.05 * (yh - yl);
    Frame f{finite(a.x_min) ? a.x_min : xl, finite(a.x_max) ? a.x_max : xh,
            finite(a.y_min) ? a.y_min : yl - pad, finite(a.y_max) ? a.y_max : yh + pad, a.log_x, a.width + legend_w,
            a.height};
    if (f.x_hi <= f.x_lo) f.x_hi = f.x_lo + (a.log_x ? f.x_lo : 1.0);
    f.R += legend_w;
    return f;
}

std::string points_path(const Frame& f, const Series& s, std::vector<std::pair<double, double>>* pts = nullptr) {
    std::string d;
    bool pen = false;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); i++) {
        if (!finite(s.x[i]) || !finite(s.y[i]) || (f.log_x && s.x[i] <= 0)) {
            pen = false;
            continue;
        }
        double x = f.px(s.x[i]), y = f.py(std::clamp(s.y[i], f.y_lo, f.y_hi));
        d += (pen ? "L" : "M") + num(x) + " " + num(y) + " ";
        pen = true;
        if (pts) pts->push_back({x, y});
    }
    return d;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
    std::vector<double> t;
    if (!finite(lo) || !finite(hi) || hi <= lo) return {lo};
    double raw = (hi - lo) / std::max(1, target);
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (raw <= m * mag * 1.0000001) {
            step = m * mag;
            break;
        }
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
        t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
    return t;
}

std::string line_chart(const Axes& a, const std::vector<Series>& series) {
    int lw = legend_width(series);
    Frame f = make_frame(a, series, lw);
    std::string s = header(a, f.W) + axes_svg(f, a);
    for (size_t i = 0; i < series.size(); i++) {
        const Series& se = series[i];
        if (!se.err.empty()) {  // band: upper edge forward, lower edge back
            std::string up, down;
            for (size_t k = 0; k < se.x.size() && k < se.y.size() && k < se.err.size(); k++) {
                if (!finite(se.x[k]) || !finite(se.y[k]) || !finite(se.err[k]) || (f.log_x && se.x[k] <= 0)) continue;
                double x = f.px(se.x[k]);
                up += (up.empty() ? "M" : "L") + num(x) + " " + num(f.py(std::min(f.y_hi, se.y[k] + se.err[k]))) + " ";
                down = "L" + num(x) + " " + num(f.py(std::max(f.y_lo, se.y[k] - se.err[k]))) + " " + down;
            }
            if (!up.empty())
                s += "<path d=\"" + up + down + "Z\" fill=\"" + colour(i) + "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n";
        }
        std::vector<std::pair<double, double>> pts;
        s += "<path d=\"" + points_path(f, se, &pts) + "\" fill=\"none\" stroke=\"" + colour(i) + "\" stroke-width=\"2\"" +
             (se.dashed ? " stroke-dasharray=\"6,3\"" : "") + "/>\n";
        for (auto& [x, y] : pts)
            s += "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"3\" fill=\"" + colour(i) + "\"/>\n";
    }
    s += legend_svg(series, f.W - lw + 6, f.T + 12, false);
    return s + "</svg>\n";
}

std::string scatter(const Axes& a, const std::vector<Series>& series) {
    int lw = legend_width(series);
    Frame f = make_frame(a, series, lw);
    std::string s = header(a, f.W) + axes_svg(f, a);
    for (size_t i = 0; i < series.size(); i++)
        for (size_t k = 0; k < series[i].x.size() && k < series[i].y.size(); k++) {
            double x = series[i].x[k], y = series[i].y[k];
            if (!finite(x) || !finite(y) || (f.log_x && x <= 0)) continue;
            s += "<circle cx=\"" + num(f.px(x)) + "\" cy=\"" + num(f.py(std::clamp(y, f.y_lo, f.y_hi))) +
                 "\" r=\"2.5\" fill=\"" + colour(i) + "\" fill-opacity=\"0.6\"/>\n";
        }
    s += legend_svg(series, f.W - lw + 6, f.T + 12, true);
    return s + "</svg>\n";
}

std::string grouped_bars(const Axes& a, const std::vector<std::string>& groups, const std::vector<Series>& series) {
    int lw = legend_width(series);
    double lo = 0, hi = -INFINITY;
    for (auto& se : series)
        for (size_t g = 0; g < se.y.size(); g++)
            if (finite(se.y[g])) {
                double e = g < se.err.size() && finite(se.err[g]) ? se.err[g] : 0;
                lo = std::min(lo, se.y[g] - e);
                hi = std::max(hi, se.y[g] + e);
            }
    if (!finite(hi)) hi = 1;
    Frame f{0, 1, finite(a.y_min) ? a.y_min : lo, finite(a.y_max) ? a.y_max : hi + 0.05 * (hi - lo + 1e-12), false,
            a.width + lw, a.height};
    f.R += lw;
    std::string s = header(a, f.W) + axes_svg(f, a, false);
    double plot_w = f.W - f.L - f.R, gw = plot_w / std::max<size_t>(1, groups.size());
    double bw = gw * 0.8 / std::max<size_t>(1, series.size());
    for (size_t g = 0; g < groups.size(); g++) {
        double gx = f.L + g * gw + gw * 0.1;
        s += "<text x=\"" + num(f.L + (g + 0.5) * gw) + "\" y=\"" + num(f.H - f.B + 16) + "\" text-anchor=\"middle\">" +
             xml_escape(groups[g]) + "</text>\n";
        for (size_t i = 0; i < series.size(); i++) {
            if (g >= series[i].y.size() || !finite(series[i].y[g])) continue;
            double v = series[i].y[g], base = std::clamp(0.0, f.y_lo, f.y_hi);
            double y0 = f.py(base), y1 = f.py(std::clamp(v, f.y_lo, f.y_hi));
            s += "<rect x=\"" + num(gx + i * bw) + "\" y=\"" + num(std::min(y0, y1)) + "\" width=\"" + num(bw * 0.92) +
                 "\" height=\"" + num(std::fabs(y1 - y0)) + "\" fill=\"" + colour(i) + "\"><title>" + xml_escape(series[i].label) +
                 " " + xml_escape(groups[g]) + ": " + label(v, a.percent_y) + "</title></rect>\n";
            if (g < series[i].err.size() && finite(series[i].err[g])) {
                double cx = gx + i * bw + bw * 0.46, e = series[i].err[g];
                s += "<line x1=\"" + num(cx) + "\" x2=\"" + num(cx) + "\" y1=\"" + num(f.py(std::min(f.y_hi, v + e))) +
                     "\" y2=\"" + num(f.py(std::max(f.y_lo, v - e))) + "\" stroke=\"#222\"/>\n";
            }
        }
    }
    s += legend_svg(series, f.W - lw + 6, f.T + 12, true);
    return s + "</svg>\n";
}

std::string heatmap(const Axes& a, const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                    const std::vector<std::vector<double>>& values, bool percent_values) {
    double lo = INFINITY, hi = -INFINITY;
    for (auto& r : values) range_of(r, lo, hi);
    if (!finite(lo)) lo = 0, hi = 1;
    if (finite(a.y_min)) lo = a.y_min;
    if (finite(a.y_max)) hi = a.y_max;
    size_t longest = 0;
    for (auto& r : rows) longest = std::max(longest, r.size());
    int L = int(16 + 7 * longest), T = 44, B = 56, R = 24;
    std::string s = header(a, a.width);
    double cw = double(a.width - L - R) / std::max<size_t>(1, cols.size());
    double ch = double(a.height - T - B) / std::max<size_t>(1, rows.size());
    for (size_t r = 0; r < rows.size(); r++) {
        s += "<text x=\"" + std::to_string(L - 6) + "\" y=\"" + num(T + (r + 0.5) * ch + 4) + "\" text-anchor=\"end\">" +
             xml_escape(rows[r]) + "</text>\n";
        for (size_t c = 0; c < cols.size(); c++) {
            double v = r < values.size() && c < values[r].size() ? values[r][c] : NAN;
            double t = finite(v) ? std::clamp((v - lo) / (hi - lo + 1e-12), 0.0, 1.0) : 0.0;
            // white -> dark blue
            int red = int(255 - t * (255 - 33)), green = int(255 - t * (255 - 72)), blue = int(255 - t * (255 - 140));
            char fill[16];
            std::snprintf(fill, sizeof fill, "#%02x%02x%02x", red, green, blue);
            s += "<rect x=\"" + num(L + c * cw) + "\" y=\"" + num(T + r * ch) + "\" width=\"" + num(cw) + "\" height=\"" +
                 num(ch) + "\" fill=\"" + (finite(v) ? fill : "#f4f4f4") + "\" stroke=\"white\"/>\n";
            if (finite(v) && ch >= 12 && cw >= 28)
                s += "<text x=\"" + num(L + (c + 0.5) * cw) + "\" y=\"" + num(T + (r + 0.5) * ch + 4) +
                     "\" text-anchor=\"middle\" font-size=\"10\" fill=\"" + (t > 0.55 ? "white" : "#222") + "\">" +
                     label(v, percent_values) + "</text>\n";
        }
    }
    for (size_t c = 0; c < cols.size(); c++)
        s += "<text x=\"" + num(L + (c + 0.5) * cw) + "\" y=\"" + std::to_string(a.height - B + 16) +
             "\" text-anchor=\"middle\">" + xml_escape(cols[c]) + "</text>\n";
    s += "<text x=\"" + num(L + (a.width - L - R) / 2.0) + "\" y=\"" + std::to_string(a.height - 14) +
         "\" text-anchor=\"middle\">" + xml_escape(a.xlabel) + "</text>\n";
    s += "<text transform=\"translate(14," + num(T + (a.height - T - B) / 2.0) + ") rotate(-90)\" text-anchor=\"middle\">" +
         xml_escape(a.ylabel) + "</text>\n";
    return s + "</svg>\n";
}

std::string histogram(const Axes& a, const std::vector<Series>& samples, int bins) {
    double lo = INFINITY, hi = -INFINITY;
    for (auto& s : samples) range_of(s.x, lo, hi);
    if (finite(a.x_min)) lo = a.x_min;
    if (finite(a.x_max)) hi = a.x_max;
    if (!finite(lo)) lo = 0, hi = 1;
    if (hi <= lo) hi = lo + 1;
    bins = std::max(1, bins);
    std::vector<Series> counts;
    double ymax = 0;
    for (auto& s : samples) {
        Series c;
        c.label = s.label;
        c.y.assign(size_t(bins), 0.0);
        for (double v : s.x) {
            if (!finite(v) || v < lo || v > hi) continue;
            int b = std::min(bins - 1, int((v - lo) / (hi - lo) * bins));
            c.y[size_t(b)] += 1;
        }
        for (double y : c.y) ymax = std::max(ymax, y);
        counts.push_back(c);
    }
    int lw = legend_width(samples);
    Frame f{lo, hi, 0, finite(a.y_max) ? a.y_max : ymax * 1.05 + 1e-12, false, a.width + lw, a.height};
    f.R += lw;
    std::string s = header(a, f.W) + axes_svg(f, a);
    double bw = (hi - lo) / bins;
    for (size_t i = 0; i < counts.size(); i++)
        for (int b = 0; b < bins; b++) {
            double y = counts[i].y[size_t(b)];
            if (y <= 0) continue;
            double x0 = f.px(lo + b * bw), x1 = f.px(lo + (b + 1) * bw);
            s += "<rect x=\"" + num(x0) + "\" y=\"" + num(f.py(y)) + "\" width=\"" + num(std::max(0.5, x1 - x0 - 0.5)) +
                 "\" height=\"" + num(f.py(0) - f.py(y)) + "\" fill=\"" + colour(i) + "\" fill-opacity=\"0.55\"/>\n";
        }
    s += legend_svg(samples, f.W - lw + 6, f.T + 12, true);
    return s + "</svg>\n";
}

}  // namespace experiments::plot
