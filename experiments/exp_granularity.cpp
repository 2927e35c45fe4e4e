// Granularity (claims C1, C7): unstructured against filter pruning of vgg at matched parameter
// counts. For each filter ratio r, every conv layer loses round(r * filters) filters by L1 norm (Li et
// al.); the weights that survive (a pruned filter also empties the next layer's input channel) give
// a density, and unstructured global |w| pruning is taken to that same density. Both are fine-tuned
// with the same budget. Then the same weights run three ways: dense with zeros (the masked model on
// dense kernels), CSR (every weight as compressed sparse rows, sparse::compile), and — for filters —
// the physically thinned model (prune::thin). Inference time is thread CPU time on one thread (the
// fastest of interleaved samples, robust on a shared machine); memory is the bytes of the weights.

#include "experiments/exp_common.hpp"
#include "experiments/plot.hpp"
#include "nn/clock.hpp"
#include "nn/autograd.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/rng.hpp"
#include "nn/threads.hpp"
#include "prune/schedule.hpp"
#include "prune/sensitivity.hpp"
#include "prune/thin.hpp"
#include "sparse/modules.hpp"

namespace experiments {

namespace {

// Milliseconds per forward of each model on the same random batch: `samples` interleaved rounds of
// `reps` forwards each, the fastest round kept. Runs on one thread.
std::vector<double> forward_ms(const std::vector<nn::Module*>& models, int64_t batch, int samples, int reps) {
    nn::Rng rng(7);
    nn::Tensor x = nn::Tensor::empty({batch, 1, 28, 28});
    for (int64_t i = 0; i < x.numel(); i++) x.data()[i] = rng.normal();
    const int threads = nn::num_threads();
    nn::set_num_threads(1);
    nn::NoGradGuard no_grad;
    std::vector<double> best(models.size(), 1e300);
    for (nn::Module* m : models) {
        m->eval();
        m->forward(x);  // warm-up: allocator caches, packed panels
    }
    for (int s = 0; s < samples; s++)
        for (size_t i = 0; i < models.size(); i++) {
            double t0 = nn::thread_cpu_seconds();
            for (int r = 0; r < reps; r++) models[i]->forward(x);
            best[i] = std::min(best[i], 1000.0 * (nn::thread_cpu_seconds() - t0) / double(reps));
        }
    nn::set_num_threads(threads);
    return best;
}

int64_t weight_bytes(const nn::Module& model) {
    int64_t n = 0;
    for (auto& [name, t] : model.named_parameters()) n += t.numel();
    return 4 * n;
}

class Granularity : public Experiment {
public:
    std::string name() const override { return "granularity"; }
    std::string title() const override { return "Granularity: unstructured against filter pruning (C1, C7)"; }
    std::vector<std::string> claims() const override { return {"C1", "C7"}; }

    void configure(Args& args, Profile profile) override {
        bool smoke = profile == Profile::Smoke, full = profile == Profile::Full;
        seeds_ = full ? 3 : smoke ? 1 : 2;
        ratios_ = smoke ? "0.5" : full ? "0.5,0.8" : "0.5,0.75";
        epochs_ = smoke ? 1 : 0.5;  // half an epoch: vgg fine-tuning is most of this experiment's time
        samples_ = smoke ? 1 : 3;
        if (smoke) model_ = "lenet5";  // the smoke profile checks the machinery on the cheapest conv net
        args.add("model", &model_, "model spec (a convolutional net of the zoo; baseline from the cache)")
            .add("seeds", &seeds_, "baselines (seeds) per point")
            .add("filter-ratios", &ratios_, "fractions of the filters of every conv layer pruned")
            .add("finetune-epochs", &epochs_, "fine-tuning epochs after pruning (both granularities)")
            .add("finetune-lr", &lr_, "fine-tuning learning rate")
            .add("samples", &samples_, "interleaved timing rounds (the fastest is kept)");
    }

    std::vector<Point> points(Context&) override {
        std::vector<Point> out;
        for (uint64_t seed : seed_list(seeds_))
            for (double r : parse_doubles(ratios_, "--filter-ratios"))
                for (const char* g : {"filter", "element"})
                    out.push_back({std::string(g) + "-" + fmt(r, 4) + "-seed" + std::to_string(seed),
                                   {{"granularity", g}, {"ratio", fmt(r, 6)}, {"seed", std::to_string(seed)}},
                                   train_cost(model_, double(epochs_))});
        return out;
    }

    Table run_point(Context& ctx, const Point& p) override {
        const uint64_t seed = uint64_t(p.num("seed"));
        const double ratio = p.num("ratio");
        ENSURE(ratio > 0 && ratio < 1, "--filter-ratios must be in (0, 1), got ", ratio);
        const bool filters = p.at("granularity") == "filter";
        auto model = load_baseline(ctx, model_, seed);
        const std::string spec = nn::ModelSpec::parse(model_).str();

        // The filter masks decide the parameter budget of both granularities.
        std::vector<prune::Group> groups = prune::dependency_groups(spec, *model);
        std::map<std::string, double> ratios;
        for (const std::string& layer : prune::sensitivity_layers(spec, *model, "filter"))
            if (layer.rfind("classifier", 0) != 0 && layer.rfind("fc", 0) != 0) ratios[layer] = ratio;  // convs only
        prune::MaskSet filter_masks =
            prune::complete_masks(groups, *model, prune::masks_for_ratios(spec, *model, "filter", ratios));
        std::vector<nn::NamedTensor> weights = prunable_weights(*model, true);
        int64_t n_weights = 0;
        for (auto& [name, w] : weights) n_weights += w.numel();
        // The parameters the thinned filter-pruned model keeps (its readers' inputs of dead channels
        // included); unstructured pruning keeps every bias, so its weights get the rest.
        prune::CostTotals filter_cost = prune::total_costs(prune::layer_costs(spec, *model, filter_masks));
        const int64_t others = filter_cost.params - n_weights;
        const double density = double(filter_cost.params_effective - others) / double(n_weights);
        prune::MaskSet masks = filter_masks;
        if (!filters) {
            prune::PruneSpec global;
            global.global = true;
            masks = prune::decide_to_sparsity(weights, {}, global, 1.0 - density);
        }
        prune::CostTotals cost = prune::total_costs(prune::layer_costs(spec, *model, masks));

        masks.apply(*model);
        const double acc_pruned = nn::evaluate(*model, ctx.fashion().test).accuracy;
        nn::TrainResult tuned =
            train_masked(ctx, *model, masks, finetune_config(ctx, epochs_, lr_, seed, ctx.fashion().train.size()), model_);

        // The same weights three ways.
        std::shared_ptr<nn::Module> thinned;
        if (filters) thinned = prune::thin(spec, *model, masks).model;
        auto csr = nn::make_model(spec, seed);
        std::map<std::string, nn::Tensor> values;
        for (auto& [name, t] : model->state_dict()) values[name] = t;
        csr->load_state_dict(values);
        sparse::CompileOptions all_sparse;
        all_sparse.max_density = all_sparse.max_conv_density = 1.0;
        for (auto& [name, m] : masks.masks()) all_sparse.masks[name] = m;
        sparse::compile(*csr, all_sparse);
        auto unpruned = load_baseline(ctx, model_, seed);
        std::vector<nn::Module*> runs = {unpruned.get(), model.get(), csr.get()};
        if (thinned) runs.push_back(thinned.get());
        std::vector<double> ms128 = forward_ms(runs, 128, samples_, ctx.profile == Profile::Smoke ? 1 : 3);
        std::vector<double> ms1 = forward_ms(runs, 1, samples_, ctx.profile == Profile::Smoke ? 2 : 20);
        sparse::MemoryTotals mem = sparse::memory_totals(sparse::memory_report(*model, all_sparse.masks));

        Table t({"granularity", "ratio", "seed", "density", "params", "params_kept", "macs", "macs_kept", "acc_pruned",
                 "acc_tuned", "ms_unpruned_b128", "ms_dense_b128", "ms_csr_b128", "ms_thin_b128", "ms_dense_b1", "ms_csr_b1", "ms_thin_b1",
                 "bytes_dense", "bytes_csr", "bytes_thin"});
        auto at = [](const std::vector<double>& v, size_t i) { return i < v.size() ? fmt(v[i]) : std::string(); };
        t.add({p.at("granularity"), p.at("ratio"), p.at("seed"), fmt(density), std::to_string(cost.params),
               std::to_string(cost.params_effective), std::to_string(cost.macs), std::to_string(cost.macs_effective),
               fmt(acc_pruned), fmt(tuned.final_test.accuracy), at(ms128, 0), at(ms128, 1), at(ms128, 2), at(ms128, 3),
               at(ms1, 1), at(ms1, 2), at(ms1, 3), std::to_string(mem.dense), std::to_string(mem.best),
               thinned ? std::to_string(weight_bytes(*thinned)) : std::string()});
        return t;
    }

    Section analyse(Context&, const Table& r) override {
        Section s;
        s.setup = "Trained " + model_ + " baselines (" + std::to_string(seeds_) + " seeds). Filter pruning removes the "
                  "given fraction of every conv layer's filters by L1 norm (with their BatchNorm entries and the next "
                  "layer's input channels); unstructured pruning removes weights by global |w| down to the same "
                  "number of surviving weights. Both are fine-tuned " + fmt(epochs_) + " epoch(s) at lr " +
                  fmt(lr_) + ". Inference time: one thread, thread CPU time, fastest of " + std::to_string(samples_) +
                  " interleaved rounds; dense with zeros = the masked model on dense kernels, CSR = every weight as "
                  "compressed sparse rows (sparse::compile forced on all layers), thinned = the physically smaller "
                  "model (filters only). Memory: bytes of the weights (CSR: per tensor the smaller of dense, CSR and "
                  "CSR16, as `sparsify` stores them).";
        std::vector<std::string> rs = r.distinct("ratio");
        std::sort(rs.begin(), rs.end(), [](auto& a, auto& b) { return std::stod(a) < std::stod(b); });

        plot::Axes a;
        a.title = "Accuracy at matched parameter counts (" + model_ + ")";
        a.xlabel = "fraction of filters pruned per conv layer";
        a.ylabel = "test accuracy after fine-tuning";
        a.percent_x = a.percent_y = true;
        s.figures.push_back({"accuracy.svg", "Test accuracy after fine-tuning (band: ± std over seeds); at each x both "
                                             "granularities keep the same number of weights.",
                             plot::line_chart(a, mean_curves(r, "granularity", "ratio", "acc_tuned"))});

        std::vector<std::string> groups;
        std::vector<plot::Series> bars = {{"dense with zeros", {}, {}, {}, false}, {"CSR", {}, {}, {}, false},
                                          {"thinned", {}, {}, {}, false}};
        std::vector<plot::Series> mem = {{"dense", {}, {}, {}, false}, {"CSR", {}, {}, {}, false},
                                         {"thinned", {}, {}, {}, false}};
        Table lat({"pruning", "weights kept", "MACs kept", "acc. pruned", "acc. fine-tuned", "dense+zeros ms (b128)",
                   "CSR ms (b128)", "thinned ms (b128)", "dense+zeros ms (b1)", "CSR ms (b1)", "thinned ms (b1)",
                   "memory dense / CSR / thinned (KB)"});
        auto mean_of = [&](const Table& t, const std::string& col) { return stats_of(column_values(t, col)).mean; };
        int c1_pass = 0, c1_total = 0, c7_pass = 0, c7_total = 0;
        std::string ev1, ev7;
        for (const std::string& ratio : rs)
            for (const char* g : {"filter", "element"}) {
                Table t = r.where({{"granularity", g}, {"ratio", ratio}});
                if (t.size() == 0) continue;
                const std::string label = std::string(g == std::string("filter") ? "filters " : "unstructured ") +
                                          fmt_fixed(100 * std::stod(ratio), 0) + " %";
                groups.push_back(label);
                double d128 = mean_of(t, "ms_dense_b128"), c128 = mean_of(t, "ms_csr_b128"),
                       t128 = mean_of(t, "ms_thin_b128");
                bars[0].y.push_back(d128), bars[1].y.push_back(c128), bars[2].y.push_back(std::isnan(t128) ? 0 : t128);
                double bd = mean_of(t, "bytes_dense"), bc = mean_of(t, "bytes_csr"), bt = mean_of(t, "bytes_thin");
                mem[0].y.push_back(bd / 1024), mem[1].y.push_back(bc / 1024), mem[2].y.push_back(std::isnan(bt) ? 0 : bt / 1024);
                Stats acc = stats_of(column_values(t, "acc_tuned"));
                lat.add({label, fmt_fixed(100 * mean_of(t, "density"), 1) + " %",
                         fmt_fixed(100 * mean_of(t, "macs_kept") / mean_of(t, "macs"), 1) + " %",
                         fmt_fixed(100 * mean_of(t, "acc_pruned"), 2) + " %",
                         fmt_fixed(100 * acc.mean, 2) + " ± " + fmt_fixed(100 * acc.std, 2) + " %", fmt_fixed(d128, 2),
                         fmt_fixed(c128, 2), std::isnan(t128) ? "—" : fmt_fixed(t128, 2),
                         fmt_fixed(mean_of(t, "ms_dense_b1"), 3), fmt_fixed(mean_of(t, "ms_csr_b1"), 3),
                         std::isnan(t128) ? "—" : fmt_fixed(mean_of(t, "ms_thin_b1"), 3),
                         fmt_fixed(bd / 1024, 0) + " / " + fmt_fixed(bc / 1024, 0) + " / " +
                             (std::isnan(bt) ? "—" : fmt_fixed(bt / 1024, 0))});
                if (std::string(g) == "element") {
                    // C1 (first half): zeros on dense kernels buy no time.
                    c1_total++;
                    double ref = mean_of(t, "ms_unpruned_b128");
                    bool same = std::fabs(d128 / ref - 1.0) <= 0.10;
                    c1_pass += same;
                    ev1 += "; " + label + ": dense+zeros " + fmt_fixed(d128, 2) + " ms vs unpruned " + fmt_fixed(ref, 2) +
                           " ms";
                    // C7: sparse storage of unstructured zeros saves memory.
                    c7_total++;
                    c7_pass += bc < bd;
                    ev7 += "; " + label + ": " + fmt_fixed(bd / 1024, 0) + " KB dense → " + fmt_fixed(bc / 1024, 0) +
                           " KB CSR, CSR time " + fmt_fixed(c128 / d128, 2) + "× dense";
                } else {
                    // C1 (second half): the thinned model is immediately faster.
                    c1_total++;
                    c1_pass += t128 < 0.9 * d128;
                    ev1 += "; " + label + ": thinned " + fmt_fixed(t128, 2) + " ms vs dense " + fmt_fixed(d128, 2) +
                           " ms (" + fmt_fixed(d128 / t128, 2) + "×)";
                }
            }
        plot::Axes b;
        b.title = "Inference time at batch 128, one thread";
        b.ylabel = "milliseconds per batch";
        s.figures.push_back({"latency.svg", "Inference time of the same weights run three ways (0: not applicable).",
                             plot::grouped_bars(b, groups, bars)});
        plot::Axes m;
        m.title = "Memory of the weights";
        m.ylabel = "KB";
        s.figures.push_back({"memory.svg", "Bytes of the weights, dense, as CSR/CSR16, and thinned (0: not applicable).",
                             plot::grouped_bars(m, groups, mem)});
        s.tables.push_back({"Matched parameter counts: accuracy, time and memory (means over seeds).", lat});
        s.verdicts.push_back({"C1", "Unstructured pruning gives no speed-up on dense kernels; structured pruning gives an "
                                    "immediate one.",
                              verdict_from(c1_pass, c1_total),
                              "at each ratio, the unstructured model on dense kernels must take within 10 % of the "
                              "unpruned model's time (zeros buy nothing), and the thinned filter-pruned model must be "
                              "at least 10 % faster than the same weights on dense kernels",
                              ev1.empty() ? "" : ev1.substr(2)});
        s.verdicts.push_back({"C7", "Zeros cost memory and time unless stored sparsely.", verdict_from(c7_pass, c7_total),
                              "at each ratio, the unstructured model stored sparsely must take less memory than dense "
                              "(the dense tensor keeps every zero); the CSR time is reported beside it — the crossover "
                              "in time is measured by the sparse-matrices experiment",
                              ev7.empty() ? "" : ev7.substr(2)});
        return s;
    }

private:
    std::string model_ = "vgg", ratios_ = "0.5,0.75";
    int seeds_ = 2, samples_ = 3;
    double epochs_ = 1;
    float lr_ = 0.01f;
};

}  // namespace

std::unique_ptr<Experiment> make_granularity() { return std::make_unique<Granularity>(); }

}  // namespace experiments
