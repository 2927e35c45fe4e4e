#include "experiments/thin_tools.hpp"

#include <algorithm>
#include <map>

#include "experiments/bert_common.hpp"
#include "experiments/plot.hpp"
#include "nn/clock.hpp"
#include "nn/autograd.hpp"
#include "nn/check.hpp"
#include "nn/rng.hpp"
#include "nn/transformer.hpp"

namespace experiments {

Forward random_forward(nn::Module& model, int64_t batch, int64_t seq, uint64_t seed) {
    auto* mlm = dynamic_cast<nn::BertForMaskedLM*>(&model);
    auto* cls = dynamic_cast<nn::BertForSequenceClassification*>(&model);
    if (mlm || cls) {
        const nn::BertConfig& c = mlm ? mlm->bert->config : cls->bert->config;
        const int64_t T = seq > 0 ? seq : c.max_position;
        ENSURE(T <= c.max_position, "a sequence of ", T, " tokens is longer than the model's ", c.max_position,
               " positions");
        auto b = std::make_shared<MlmBatch>(random_mlm_batch(c.vocab_size, batch, T, seed));
        if (mlm)
            return [b](nn::Module& m) { return dynamic_cast<nn::BertForMaskedLM&>(m).forward_positions(b->ids, b->positions); };
        return [b](nn::Module& m) { return dynamic_cast<nn::BertForSequenceClassification&>(m).forward_ids(b->ids); };
    }
    nn::Rng rng(seed);
    nn::Tensor x = nn::Tensor::empty({batch, 1, 28, 28});
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = rng.normal();
    return [x](nn::Module& m) { return m.forward(x); };
}

SpeedComparison compare_speed(nn::Module& dense, nn::Module& thin, int64_t batch, int samples, int reps,
                              double (*clock)()) {
    return compare_speed(dense, thin, random_forward(dense, batch), samples, reps, clock);
}

SpeedComparison compare_speed(nn::Module& dense, nn::Module& thin, const Forward& forward, int samples, int reps,
                              double (*clock)()) {
    dense.eval();
    thin.eval();
    nn::NoGradGuard no_grad;
    auto time = [&](nn::Module& m) {
        double t0 = clock();
        for (int r = 0; r < reps; r++) forward(m);
        return 1000.0 * (clock() - t0) / double(reps);
    };
    forward(dense);  // warm-up: allocator caches, packed panels
    forward(thin);
    SpeedComparison s{1e300, 1e300};
    for (int i = 0; i < samples; i++) {
        s.dense_ms = std::min(s.dense_ms, time(dense));
        s.thin_ms = std::min(s.thin_ms, time(thin));
    }
    return s;
}

std::string sensitivity_svg(const std::vector<prune::SensitivityRow>& rows, const std::string& title) {
    std::vector<plot::Series> series;
    std::map<std::string, size_t> index;
    double dense = NAN, max_ratio = 0;
    for (auto& r : rows) {
        if (r.parameter == "dense") {
            dense = r.accuracy;
            continue;
        }
        if (!index.count(r.parameter)) {
            index[r.parameter] = series.size();
            series.push_back({r.parameter, {}, {}, {}, false});
        }
        series[index[r.parameter]].x.push_back(r.ratio);
        series[index[r.parameter]].y.push_back(r.accuracy);
        max_ratio = std::max(max_ratio, r.ratio);
    }
    if (!std::isnan(dense)) series.push_back({"dense", {0.0, max_ratio}, {dense, dense}, {}, true});
    plot::Axes a;
    a.title = title;
    a.xlabel = "fraction of the layer pruned";
    a.ylabel = "validation accuracy";
    a.percent_x = a.percent_y = true;
    return plot::line_chart(a, series);
}

}  // namespace experiments
