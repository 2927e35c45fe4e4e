#include "prune/report.hpp"

#include <cstdio>
#include <sstream>

#include "nn/check.hpp"

namespace prune {

namespace {

// Fully zero slices of `zero` (1 = element is zero) along `dim` of `shape`.
int64_t zero_slices(const std::vector<uint8_t>& zero, const nn::Shape& shape, int dim) {
    int64_t extent = shape[dim], inner = 1;
    for (int k = dim + 1; k < shape.size(); k++) inner *= shape[k];
    std::vector<uint8_t> all_zero(size_t(extent), 1);
    for (size_t i = 0; i < zero.size(); i++)
        if (!zero[i]) all_zero[size_t(int64_t(i) / inner % extent)] = 0;
    int64_t n = 0;
    for (uint8_t z : all_zero) n += z;
    return n;
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string pct(double v) { return std::isnan(v) ? "-" : fmt("%.2f%%", 100.0 * v); }

}  // namespace

Report make_report(const std::vector<nn::NamedTensor>& tensors, const MaskSet& masks,
                   const std::map<std::string, double>& targets) {
    Report r;
    r.total.name = "total";
    double target_weighted = 0.0;
    int64_t target_params = 0;
    for (auto& [name, t] : tensors) {
        LayerRow row;
        row.name = name;
        row.shape = t.shape();
        row.params = t.numel();
        nn::Tensor v = t.contiguous();
        const nn::Tensor* m = masks.find(name);
        ENSURE(!m || m->shape() == t.shape(), "report: mask of '", name, "' has shape ", m->shape(), ", the tensor has ",
               t.shape());
        row.has_mask = m != nullptr;
        std::vector<uint8_t> zero(size_t(row.params));
        for (int64_t i = 0; i < row.params; i++) {
            bool value_zero = v.data()[i] == 0.0f;
            bool mask_zero = m && m->data()[i] == 0.0f;
            row.value_zeros += value_zero;
            row.mask_zeros += mask_zero;
            zero[size_t(i)] = value_zero || mask_zero;
            row.nnz += !zero[size_t(i)];
        }
        if (t.ndim() >= 2) {
            row.n_dim0 = t.size(0);
            row.n_dim1 = t.size(1);
            row.zero_dim0 = zero_slices(zero, t.shape(), 0);
            row.zero_dim1 = zero_slices(zero, t.shape(), 1);
        }
        auto it = targets.find(name);
        if (it != targets.end()) {
            row.target = it->second;
            target_weighted += it->second * double(row.params);
            target_params += row.params;
        }
        LayerRow& tot = r.total;
        tot.params += row.params;
        tot.nnz += row.nnz;
        tot.mask_zeros += row.mask_zeros;
        tot.value_zeros += row.value_zeros;
        tot.has_mask = tot.has_mask || row.has_mask;
        tot.zero_dim0 += row.zero_dim0;
        tot.n_dim0 += row.n_dim0;
        tot.zero_dim1 += row.zero_dim1;
        tot.n_dim1 += row.n_dim1;
        r.rows.push_back(row);
    }
    if (target_params > 0) r.total.target = target_weighted / double(target_params);
    return r;
}

std::string format_report(const Report& r) {
    std::vector<std::vector<std::string>> cells;
    cells.push_back({"name", "shape", "params", "nnz", "sparsity", "target", "mask zeros", "value zeros",
                     "zero rows/filters", "zero cols/channels"});
    auto line = [&](const LayerRow& row, bool total) {
        auto slices = [](int64_t z, int64_t n) { return n ? std::to_string(z) + "/" + std::to_string(n) : "-"; };
        cells.push_back({row.name, total ? "" : nn::to_string(row.shape), std::to_string(row.params),
                         std::to_string(row.nnz), pct(row.sparsity()), pct(row.target),
                         row.has_mask ? std::to_string(row.mask_zeros) : "-", std::to_string(row.value_zeros),
                         slices(row.zero_dim0, row.n_dim0), slices(row.zero_dim1, row.n_dim1)});
    };
    for (auto& row : r.rows) line(row, false);
    line(r.total, true);
    std::vector<size_t> width(cells[0].size(), 0);
    for (auto& c : cells)
        for (size_t k = 0; k < c.size(); k++) width[k] = std::max(width[k], c[k].size());
    std::ostringstream os;
    for (size_t i = 0; i < cells.size(); i++) {
        if (i == cells.size() - 1 || i == 1) {
            size_t total = 0;
            for (size_t w : width) total += w + 2;
            os << std::string(total - 2, '-') << "\n";
        }
        for (size_t k = 0; k < cells[i].size(); k++) {
            const std::string& c = cells[i][k];
            bool left = k < 2;
            std::string pad(width[k] - c.size(), ' ');
            os << (left ? c + pad : pad + c) << (k + 1 < cells[i].size() ? "  " : "\n");
        }
    }
    return os.str();
}

std::string report_csv(const Report& r) {
    std::ostringstream os;
    os << "name,shape,params,nnz,sparsity,target_sparsity,has_mask,mask_zeros,value_zeros,zero_dim0,n_dim0,zero_dim1,"
          "n_dim1\n";
    auto line = [&](const LayerRow& row, bool total) {
        std::string shape;
        if (!total)
            for (int k = 0; k < row.shape.size(); k++) {
                if (k) shape += 'x';
                shape += std::to_string(row.shape[k]);
            }
        os << row.name << "," << shape << "," << row.params << "," << row.nnz << "," << fmt("%.6f", row.sparsity())
           << "," << (std::isnan(row.target) ? "" : fmt("%.6f", row.target)) << "," << (row.has_mask ? 1 : 0) << ","
           << row.mask_zeros << "," << row.value_zeros << "," << row.zero_dim0 << "," << row.n_dim0 << ","
           << row.zero_dim1 << "," << row.n_dim1 << "\n";
    };
    for (auto& row : r.rows) line(row, false);
    line(r.total, true);
    return os.str();
}

}  // namespace prune
