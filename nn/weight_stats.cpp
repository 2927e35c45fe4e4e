#include "nn/weight_stats.hpp"

#include <cmath>

#include "nn/check.hpp"

namespace nn {

TensorStats tensor_stats(const std::string& name, const Tensor& t_in, float threshold, float rel_threshold) {
    Tensor t = t_in.contiguous();
    TensorStats s;
    s.name = name;
    s.shape = t.shape();
    s.numel = t.numel();
    if (s.numel == 0) return s;
    const float* p = t.data();
    double sum = 0, sum_sq = 0, sum_abs = 0;
    for (int64_t i = 0; i < s.numel; i++) {
        double v = p[i];
        sum += v;
        sum_sq += v * v;
        sum_abs += std::fabs(v);
        s.max_abs = std::max(s.max_abs, std::fabs(v));
        s.n_zero += p[i] == 0.0f;
    }
    double n = double(s.numel), mean = sum / n;
    s.mean_abs = sum_abs / n;
    s.std = std::sqrt(std::max(0.0, sum_sq / n - mean * mean));
    double rel = double(rel_threshold) * s.std;
    int64_t near = 0, near_rel = 0;
    for (int64_t i = 0; i < s.numel; i++) {
        double a = std::fabs(double(p[i]));
        near += a < threshold;
        near_rel += a < rel;
    }
    s.near_zero = double(near) / n;
    s.near_zero_rel = double(near_rel) / n;
    return s;
}

std::vector<TensorStats> weight_stats(const Module& m, float threshold, float rel_threshold) {
    std::vector<TensorStats> out;
    for (auto& [name, t] : m.named_parameters())
        if (t.ndim() >= 2) out.push_back(tensor_stats(name, t, threshold, rel_threshold));
    return out;
}

std::vector<RowStats> row_stats(const Tensor& m_in, float threshold) {
    ENSURE(m_in.ndim() == 2, "row_stats: expects a matrix [N, C], got ", m_in.shape());
    Tensor m = m_in.contiguous();
    int64_t N = m.size(0), C = m.size(1);
    std::vector<RowStats> out(static_cast<size_t>(N));
    for (int64_t r = 0; r < N; r++) {
        const float* p = m.data() + r * C;
        RowStats& s = out[size_t(r)];
        double sq = 0;
        int64_t near = 0;
        for (int64_t c = 0; c < C; c++) {
            double a = std::fabs(double(p[c]));
            s.l1 += a;
            sq += a * a;
            s.max_abs = std::max(s.max_abs, a);
            near += a < threshold;
            s.n_zero += p[c] == 0.0f;
        }
        s.l2 = std::sqrt(sq);
        s.near_zero = C ? double(near) / double(C) : 0.0;
    }
    return out;
}

std::vector<HeadNorm> head_weight_norms(const BertModel& model) {
    std::vector<HeadNorm> out;
    auto block_norm = [](const Tensor& w_in, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
        Tensor w = w_in.contiguous();
        int64_t C = w.size(1);
        double s = 0;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++) s += double(w.data()[r * C + c]) * double(w.data()[r * C + c]);
        return s;
    };
    for (int64_t l = 0; l < int64_t(model.encoder->layer->size()); l++) {
        BertLayer& layer = model.layer(l);
        const BertSelfAttention& a = *layer.attention->self;
        const Tensor& o = layer.attention->output->dense->weight;  // [hidden, heads*D]
        int64_t D = a.head_dim, H = o.size(0), in = a.query->weight.size(1);
        for (int64_t h = 0; h < a.n_heads; h++) {
            HeadNorm n;
            n.layer = l;
            n.head = h;
            double q = block_norm(a.query->weight, h * D, (h + 1) * D, 0, in);
            double k = block_norm(a.key->weight, h * D, (h + 1) * D, 0, in);
            double v = block_norm(a.value->weight, h * D, (h + 1) * D, 0, in);
            double op = block_norm(o, 0, H, h * D, (h + 1) * D);
            n.query = std::sqrt(q);
            n.key = std::sqrt(k);
            n.value = std::sqrt(v);
            n.output = std::sqrt(op);
            n.total = std::sqrt(q + k + v + op);
            out.push_back(n);
        }
    }
    return out;
}

}  // namespace nn
