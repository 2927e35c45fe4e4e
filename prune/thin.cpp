#include "prune/thin.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/transformer.hpp"

namespace prune {

namespace {

// ---- building groups ----------------------------------------------------------------------------

std::string join(const std::string& prefix, const std::string& name) { return prefix.empty() ? name : prefix + "." + name; }

void add_bn(Group& g, const std::string& bn) {
    for (const char* p : {"weight", "bias", "running_mean", "running_var"}) g.companions.push_back({bn + "." + p, 0, 1});
}

// A chain of layers in execution order: Conv2d / Linear open a group (except the last), BatchNorm2d
// joins the open group, the next Conv2d / Linear reads it. `flatten_block` is the number of input
// features each channel owns in the first Linear after a convolution.
struct ChainLayer {
    std::string prefix;
    nn::Module* m;
    int spec_slot;  // index among its kind (convs -> widths, linears -> hidden)
};

void chain_groups(const std::vector<ChainLayer>& chain, const std::string& conv_key, const std::string& fc_key,
                  std::vector<Group>& out) {
    int last_weighted = -1;
    for (size_t i = 0; i < chain.size(); i++)
        if (dynamic_cast<nn::Conv2d*>(chain[i].m) || dynamic_cast<nn::Linear*>(chain[i].m)) last_weighted = int(i);
    int open = -1;  // index in `out` of the group waiting for its reader
    int64_t open_channels = 0;
    bool open_is_conv = false;
    for (size_t i = 0; i < chain.size(); i++) {
        const ChainLayer& l = chain[i];
        auto* conv = dynamic_cast<nn::Conv2d*>(l.m);
        auto* fc = dynamic_cast<nn::Linear*>(l.m);
        if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(l.m)) {
            ENSURE(open >= 0 && open_is_conv && bn->num_features == open_channels, "dependency groups: BatchNorm '",
                   l.prefix, "' does not follow a convolution of its width");
            add_bn(out[size_t(open)], l.prefix);
            continue;
        }
        if (!conv && !fc) continue;  // activations, pools, dropout: channel-wise, nothing to slice
        if (open >= 0) {
            int64_t in = conv ? conv->in_channels : fc->in_features;
            ENSURE(in % open_channels == 0, "dependency groups: '", l.prefix, "' reads ", in, " features from ",
                   open_channels, " units of '", out[size_t(open)].name, "'");
            out[size_t(open)].readers.push_back({l.prefix + ".weight", 1, in / open_channels});
            open = -1;
        }
        if (int(i) == last_weighted) break;
        Group g;
        g.name = l.prefix;
        g.kind = conv ? "channels" : "neurons";
        g.units = conv ? conv->out_channels : fc->out_features;
        g.producers.push_back({l.prefix + ".weight", 0, 1});
        if ((conv && conv->bias.defined()) || (fc && fc->bias.defined())) g.companions.push_back({l.prefix + ".bias", 0, 1});
        g.spec_key = conv ? conv_key : fc_key;
        g.spec_index = l.spec_slot;
        out.push_back(g);
        open = int(out.size()) - 1;
        open_channels = g.units;
        open_is_conv = conv != nullptr;
    }
}

std::vector<ChainLayer> sequential_chain(const std::string& prefix, nn::Sequential& seq, int& n_conv, int& n_fc) {
    std::vector<ChainLayer> out;
    for (auto& [name, child] : seq.children()) {
        nn::Module* m = child.get();
        int slot = 0;
        if (dynamic_cast<nn::Conv2d*>(m)) slot = n_conv++;
        else if (dynamic_cast<nn::Linear*>(m)) slot = n_fc++;
        out.push_back({join(prefix, name), m, slot});
    }
    return out;
}

nn::BertModel* bert_of(nn::Module& model) {
    if (auto* m = dynamic_cast<nn::BertForMaskedLM*>(&model)) return m->bert.get();
    if (auto* m = dynamic_cast<nn::BertForSequenceClassification*>(&model)) return m->bert.get();
    return nullptr;
}

// ---- slices of tensors ----------------------------------------------------------------------------

struct SliceGeom {
    int64_t outer = 1, extent = 1, inner = 1;
};

SliceGeom geom(const nn::Shape& s, int dim) {
    SliceGeom g;
    for (int i = 0; i < s.size(); i++) {
        if (i < dim) g.outer *= s[i];
        else if (i == dim) g.extent = s[i];
        else g.inner *= s[i];
    }
    return g;
}

// Calls fn(flat index) for every element whose index along `dim` is in [lo, hi).
template <class F>
void for_each_in_slice(const nn::Shape& s, int dim, int64_t lo, int64_t hi, F&& fn) {
    SliceGeom g = geom(s, dim);
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t e = lo; e < hi; e++)
            for (int64_t i = 0; i < g.inner; i++) fn((o * g.extent + e) * g.inner + i);
}

std::map<std::string, nn::Tensor> state_map(const nn::Module& model) {
    std::map<std::string, nn::Tensor> m;
    for (auto& [n, t] : model.state_dict()) m[n] = t;
    return m;
}

const nn::Tensor& tensor_of(const std::map<std::string, nn::Tensor>& m, const std::string& name, const std::string& group) {
    auto it = m.find(name);
    ENSURE(it != m.end(), "dependency group '", group, "': the model has no tensor '", name, "'");
    return it->second;
}

void check_slice(const nn::Tensor& t, const GroupSlice& s, const Group& g) {
    ENSURE(s.dim < t.ndim() && t.size(s.dim) == g.units * s.block, "dependency group '", g.name, "': '", s.param,
           "' has ", s.dim < t.ndim() ? t.size(s.dim) : 0, " entries along dim ", s.dim, ", expected ", g.units, " x ",
           s.block);
}

// Kept indices of every (tensor, dim) touched by a group, given each group's living units.
using KeptIndex = std::map<std::string, std::map<int, std::vector<int64_t>>>;

KeptIndex kept_index(const std::vector<Group>& groups, const std::vector<std::vector<uint8_t>>& alive) {
    KeptIndex k;
    for (size_t gi = 0; gi < groups.size(); gi++) {
        const Group& g = groups[gi];
        auto add = [&](const std::vector<GroupSlice>& slices) {
            for (auto& s : slices) {
                std::vector<int64_t> idx;
                for (int64_t u = 0; u < g.units; u++)
                    if (alive[gi][size_t(u)])
                        for (int64_t b = 0; b < s.block; b++) idx.push_back(u * s.block + b);
                auto& slot = k[s.param];
                ENSURE(!slot.count(s.dim), "dependency groups: dim ", s.dim, " of '", s.param,
                       "' belongs to two groups (the second is '", g.name, "')");
                slot[s.dim] = std::move(idx);
            }
        };
        add(g.producers);
        add(g.companions);
        add(g.readers);
    }
    return k;
}

// The sub-tensor of `t` at the kept indices of each dim (all indices of dims not listed).
nn::Tensor gather(const nn::Tensor& t, const std::map<int, std::vector<int64_t>>& kept) {
    const nn::Shape& s = t.shape();
    const int nd = s.size();
    std::vector<std::vector<int64_t>> idx(static_cast<size_t>(nd));
    std::vector<int64_t> out_dims(static_cast<size_t>(nd), 0);
    for (int d = 0; d < nd; d++) {
        auto it = kept.find(d);
        if (it != kept.end()) idx[size_t(d)] = it->second;
        else
            for (int64_t i = 0; i < s[d]; i++) idx[size_t(d)].push_back(i);
        out_dims[size_t(d)] = int64_t(idx[size_t(d)].size());
    }
    nn::Tensor src = t.contiguous();
    nn::Tensor out = nn::Tensor::empty(nn::Shape(out_dims));
    if (out.numel() == 0) return out;
    std::vector<int64_t> stride(size_t(nd), 1);
    for (int d = nd - 2; d >= 0; d--) stride[size_t(d)] = stride[size_t(d + 1)] * s[d + 1];
    std::vector<int64_t> pos(size_t(nd), 0);
    const float* in = src.data();
    float* o = out.data();
    for (int64_t n = 0; n < out.numel(); n++) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++) off += idx[size_t(d)][size_t(pos[size_t(d)])] * stride[size_t(d)];
        o[n] = in[off];
        for (int d = nd - 1; d >= 0; d--) {
            if (++pos[size_t(d)] < out_dims[size_t(d)]) break;
            pos[size_t(d)] = 0;
        }
    }
    return out;
}

std::string join_ints(const std::vector<int64_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); i++) s += (i ? "-" : "") + std::to_string(v[i]);
    return s;
}

// Per tensor, which elements survive (1) given living units and masks.
nn::Tensor survival(const std::string& name, const nn::Tensor& t, const KeptIndex& kept, const MaskSet& masks) {
    nn::Tensor keep = masks.find(name) ? masks.find(name)->clone() : nn::Tensor::ones(t.shape());
    auto it = kept.find(name);
    if (it == kept.end()) return keep;
    for (auto& [dim, idx] : it->second) {
        std::vector<uint8_t> on(size_t(t.size(dim)), 0);
        for (int64_t i : idx) on[size_t(i)] = 1;
        for (int64_t i = 0; i < t.size(dim); i++)
            if (!on[size_t(i)]) for_each_in_slice(t.shape(), dim, i, i + 1, [&](int64_t f) { keep.data()[f] = 0.0f; });
    }
    return keep;
}

std::string group_thousands(int64_t v) {
    std::string s = std::to_string(v < 0 ? -v : v), out;
    for (size_t i = 0; i < s.size(); i++) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return (v < 0 ? "-" : "") + out;
}

}  // namespace

// ---- groups ---------------------------------------------------------------------------------------

std::vector<Group> dependency_groups(const std::string& spec, nn::Module& model) {
    std::vector<Group> out;
    if (auto* m = dynamic_cast<nn::LeNet300*>(&model)) {
        chain_groups({{"fc1", m->fc1.get(), 0}, {"fc2", m->fc2.get(), 1}, {"fc3", m->fc3.get(), 2}}, "", "hidden", out);
    } else if (auto* m = dynamic_cast<nn::LeNet5*>(&model)) {
        chain_groups({{"conv1", m->conv1.get(), 0}, {"conv2", m->conv2.get(), 1}, {"fc1", m->fc1.get(), 0},
                      {"fc2", m->fc2.get(), 1}, {"fc3", m->fc3.get(), 2}},
                     "widths", "hidden", out);
    } else if (auto* m = dynamic_cast<nn::ConvNet*>(&model)) {
        int n_conv = 0, n_fc = 0;
        auto chain = sequential_chain("features", *m->features, n_conv, n_fc);
        auto tail = sequential_chain("classifier", *m->classifier, n_conv, n_fc);
        chain.insert(chain.end(), tail.begin(), tail.end());
        chain_groups(chain, "widths", "hidden", out);
    } else if (auto* m = dynamic_cast<nn::ResNet*>(&model)) {
        const size_t n_stages = m->layers.size();
        const int64_t blocks = int64_t(m->layers[0]->size());
        std::vector<Group> stages(n_stages);
        for (size_t s = 0; s < n_stages; s++) {
            Group& g = stages[s];
            g.name = "layer" + std::to_string(s + 1) + " (residual stream)";
            g.kind = "channels";
            g.spec_key = "widths";
            g.spec_index = int(s);
        }
        stages[0].units = m->conv1->out_channels;
        stages[0].producers.push_back({"conv1.weight", 0, 1});
        add_bn(stages[0], "bn1");
        for (size_t s = 0; s < n_stages; s++) {
            for (int64_t b = 0; b < blocks; b++) {
                auto* blk = dynamic_cast<nn::BasicBlock*>(&m->layers[s]->at(size_t(b)));
                ENSURE(blk, "dependency groups: layer", s + 1, ".", b, " is not a BasicBlock");
                std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
                // The block reads the previous stream (stage s - 1 for the first block of a stage > 0).
                Group& in = (b == 0 && s > 0) ? stages[s - 1] : stages[s];
                in.readers.push_back({p + ".conv1.weight", 1, 1});
                Group& stream = stages[s];
                stream.units = blk->conv2->out_channels;
                stream.producers.push_back({p + ".conv2.weight", 0, 1});
                add_bn(stream, p + ".bn2");
                if (blk->downsample) {
                    in.readers.push_back({p + ".downsample.0.weight", 1, 1});
                    stream.producers.push_back({p + ".downsample.0.weight", 0, 1});
                    add_bn(stream, p + ".downsample.1");
                } else {
                    ENSURE(&in == &stream, "dependency groups: ", p, " adds its input to its output without a shortcut "
                                           "convolution but changes stage");
                }
                Group inner;
                inner.name = p + ".conv1";
                inner.kind = "channels";
                inner.units = blk->conv1->out_channels;
                inner.producers.push_back({p + ".conv1.weight", 0, 1});
                add_bn(inner, p + ".bn1");
                inner.readers.push_back({p + ".conv2.weight", 1, 1});
                inner.spec_key = "inner";
                inner.spec_index = int(int64_t(s) * blocks + b);
                out.push_back(inner);
            }
        }
        stages.back().readers.push_back({"fc.weight", 1, 1});
        out.insert(out.begin(), stages.begin(), stages.end());
    } else if (nn::BertModel* bert = bert_of(model)) {
        const nn::BertConfig& c = bert->config;
        for (int64_t i = 0; i < c.n_layers; i++) {
            std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
            Group h;
            h.name = p + "attention";
            h.kind = "heads";
            h.units = c.heads[size_t(i)];
            for (const char* q : {"query", "key", "value"}) {
                h.producers.push_back({p + "attention.self." + q + ".weight", 0, c.head_dim});
                h.companions.push_back({p + "attention.self." + q + ".bias", 0, c.head_dim});
            }
            h.readers.push_back({p + "attention.output.dense.weight", 1, c.head_dim});
            h.spec_key = "heads";
            h.spec_index = int(i);
            out.push_back(h);
            Group f;
            f.name = p + "intermediate";
            f.kind = "neurons";
            f.units = c.intermediate[size_t(i)];
            f.producers.push_back({p + "intermediate.dense.weight", 0, 1});
            f.companions.push_back({p + "intermediate.dense.bias", 0, 1});
            f.readers.push_back({p + "output.dense.weight", 1, 1});
            f.spec_key = "ffn";
            f.spec_index = int(i);
            out.push_back(f);
        }
    } else {
        RAISE("dependency groups: model '", spec, "' (", model.type_name(),
              ") is not supported (lenet300, lenet5, conv2/4/6, vgg, resnet20, bert-mlm, bert-cls are)");
    }
    auto tensors = state_map(model);
    for (auto& g : out) {
        ENSURE(g.units > 0 && !g.producers.empty(), "dependency group '", g.name, "' is empty");
        for (auto* list : {&g.producers, &g.companions, &g.readers})
            for (auto& s : *list) check_slice(tensor_of(tensors, s.param, g.name), s, g);
    }
    return out;
}

std::vector<Target> group_targets(const std::vector<Group>& groups) {
    std::vector<Target> out;
    for (auto& g : groups) {
        Target t{g.name, {}};
        for (auto& s : g.producers)
            t.members.push_back({s.param, s.block == 1 ? Grouping::slices(s.dim) : Grouping::heads(g.units, s.dim)});
        out.push_back(std::move(t));
    }
    return out;
}

std::vector<std::vector<uint8_t>> alive_units(const std::vector<Group>& groups, const nn::Module& model,
                                              const MaskSet& masks) {
    auto tensors = state_map(model);
    std::vector<std::vector<uint8_t>> alive;
    for (auto& g : groups) {
        std::vector<uint8_t> a(size_t(g.units), 0);
        for (auto& s : g.producers) {
            const nn::Tensor& t = tensor_of(tensors, s.param, g.name);
            nn::Tensor w = t.contiguous();
            const nn::Tensor* m = masks.find(s.param);
            for (int64_t u = 0; u < g.units; u++) {
                if (a[size_t(u)]) continue;
                bool any = false;
                for_each_in_slice(t.shape(), s.dim, u * s.block, (u + 1) * s.block, [&](int64_t f) {
                    any = any || (w.data()[f] != 0.0f && (!m || m->data()[f] != 0.0f));
                });
                a[size_t(u)] = any;
            }
        }
        alive.push_back(std::move(a));
    }
    return alive;
}

MaskSet complete_masks(const std::vector<Group>& groups, const nn::Module& model, const MaskSet& masks) {
    auto alive = alive_units(groups, model, masks);
    std::map<std::string, nn::Tensor> params;
    for (auto& [n, t] : model.named_parameters()) params[n] = t;
    MaskSet out = masks.clone();
    for (size_t gi = 0; gi < groups.size(); gi++) {
        const Group& g = groups[gi];
        bool any_dead = false;
        for (uint8_t a : alive[gi]) any_dead = any_dead || !a;
        if (!any_dead) continue;
        for (auto* list : {&g.producers, &g.companions})
            for (auto& s : *list) {
                auto it = params.find(s.param);
                if (it == params.end()) continue;  // running statistics are buffers: no mask, sliced by thin
                nn::Tensor m = out.find(s.param) ? out.find(s.param)->clone() : nn::Tensor::ones(it->second.shape());
                for (int64_t u = 0; u < g.units; u++)
                    if (!alive[gi][size_t(u)])
                        for_each_in_slice(m.shape(), s.dim, u * s.block, (u + 1) * s.block,
                                          [&](int64_t f) { m.data()[f] = 0.0f; });
                out.set(s.param, m);
            }
    }
    return out;
}

// ---- thin -----------------------------------------------------------------------------------------

namespace {

std::string thinned_spec(const std::string& spec, nn::Module& model, const std::vector<Group>& groups,
                         const std::vector<int64_t>& units) {
    nn::ModelSpec s = nn::ModelSpec::parse(spec);
    if (nn::BertModel* bert = bert_of(model)) s = bert->config.to_spec(s.name);  // every option explicit (head_dim)
    std::map<std::string, std::vector<int64_t>> lists;
    for (size_t gi = 0; gi < groups.size(); gi++) {
        auto& v = lists[groups[gi].spec_key];
        if (v.size() <= size_t(groups[gi].spec_index)) v.resize(size_t(groups[gi].spec_index) + 1, -1);
        v[size_t(groups[gi].spec_index)] = units[gi];
    }
    for (auto& [key, v] : lists) {
        for (size_t i = 0; i < v.size(); i++)
            ENSURE(v[i] > 0, "thin: spec option ", key, " entry ", i, " has no dependency group");
        s.options[key] = join_ints(v);
    }
    return s.str();
}

}  // namespace

ThinResult thin(const std::string& spec, nn::Module& model, const MaskSet& masks) {
    std::vector<Group> groups = dependency_groups(spec, model);
    auto alive = alive_units(groups, model, masks);
    ThinResult r;
    for (size_t gi = 0; gi < groups.size(); gi++) {
        int64_t n = 0;
        for (uint8_t a : alive[gi]) n += a;
        ENSURE(n > 0, "thin: every unit of '", groups[gi].name, "' (", groups[gi].units, " ", groups[gi].kind,
               ") is pruned; the layer would vanish");
        r.units_before.push_back(groups[gi].units);
        r.units_after.push_back(n);
    }
    r.spec = thinned_spec(spec, model, groups, r.units_after);
    KeptIndex kept = kept_index(groups, alive);
    std::map<std::string, nn::Tensor> values;
    static const std::map<int, std::vector<int64_t>> none;
    for (auto& [name, t] : model.state_dict()) {
        auto it = kept.find(name);
        nn::Tensor v = t;
        if (const nn::Tensor* m = masks.find(name)) {
            v = t.clone();
            for (int64_t i = 0; i < v.numel(); i++) v.data()[i] *= m->data()[i];
        }
        values[name] = gather(v, it == kept.end() ? none : it->second);
        if (const nn::Tensor* m = masks.find(name)) {
            nn::Tensor sm = gather(*m, it == kept.end() ? none : it->second);
            bool all_ones = true;
            for (int64_t i = 0; i < sm.numel() && all_ones; i++) all_ones = sm.data()[i] != 0.0f;
            if (!all_ones) r.masks.set(name, sm);
        }
    }
    r.model = nn::make_model(r.spec, 0);
    r.model->load_state_dict(values, "thinned " + spec);
    r.model->train(model.training());
    return r;
}

// ---- cost -----------------------------------------------------------------------------------------

std::vector<std::pair<std::string, int64_t>> weight_positions(const std::string& spec, nn::Module& model) {
    std::vector<std::pair<std::string, int64_t>> out;
    auto conv_side = [](const nn::Conv2d& c, int64_t side) { return (side + 2 * c.padding - c.kernel_size) / c.stride + 1; };
    if (dynamic_cast<nn::LeNet300*>(&model)) {
        for (const char* n : {"fc1", "fc2", "fc3"}) out.push_back({std::string(n) + ".weight", 1});
    } else if (auto* m = dynamic_cast<nn::LeNet5*>(&model)) {
        int64_t s1 = conv_side(*m->conv1, 28), s2 = conv_side(*m->conv2, s1 / 2);
        out = {{"conv1.weight", s1 * s1}, {"conv2.weight", s2 * s2}, {"fc1.weight", 1}, {"fc2.weight", 1}, {"fc3.weight", 1}};
    } else if (auto* m = dynamic_cast<nn::ConvNet*>(&model)) {
        int64_t side = 28;
        for (auto& [name, child] : m->features->children()) {
            if (auto* c = dynamic_cast<nn::Conv2d*>(child.get())) {
                side = conv_side(*c, side);
                out.push_back({"features." + name + ".weight", side * side});
            } else if (auto* p = dynamic_cast<nn::MaxPool2d*>(child.get())) {
                int64_t st = p->stride > 0 ? p->stride : p->kernel_size;
                side = (side + 2 * p->padding - p->kernel_size) / st + 1;
            }
        }
        for (auto& [name, child] : m->classifier->children())
            if (dynamic_cast<nn::Linear*>(child.get())) out.push_back({"classifier." + name + ".weight", 1});
    } else if (auto* m = dynamic_cast<nn::ResNet*>(&model)) {
        int64_t side = conv_side(*m->conv1, 28);
        out.push_back({"conv1.weight", side * side});
        for (size_t s = 0; s < m->layers.size(); s++)
            for (size_t b = 0; b < m->layers[s]->size(); b++) {
                auto& blk = dynamic_cast<nn::BasicBlock&>(m->layers[s]->at(b));
                std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
                int64_t in_side = side;
                side = conv_side(*blk.conv1, in_side);
                out.push_back({p + ".conv1.weight", side * side});
                out.push_back({p + ".conv2.weight", side * side});
                if (blk.downsample) out.push_back({p + ".downsample.0.weight", side * side});
            }
        out.push_back({"fc.weight", 1});
    } else if (nn::BertModel* bert = bert_of(model)) {
        for (auto& [name, t] : model.named_parameters()) {
            if (t.ndim() < 2) continue;
            bool embedding = name.find("embeddings") != std::string::npos;
            bool pooled = name.find("pooler") != std::string::npos || name.rfind("classifier", 0) == 0;
            out.push_back({name, embedding ? 0 : pooled ? 1 : bert->config.max_position});
        }
    } else {
        RAISE("cost: model '", spec, "' (", model.type_name(), ") is not supported");
    }
    return out;
}

namespace {

std::vector<LayerCost> costs_with(const std::string& spec, nn::Module& model, const std::vector<Group>& groups,
                                  const std::vector<std::vector<uint8_t>>& alive, const MaskSet& masks) {
    auto positions = weight_positions(spec, model);
    KeptIndex kept = kept_index(groups, alive);
    // Which layer each parameter's count goes to: a weight to itself, a companion to its group's first
    // producer, any other parameter to the weight of the same module (else to the row "other").
    std::map<std::string, std::string> owner;
    for (auto& g : groups)
        for (auto& s : g.companions) owner[s.param] = g.producers[0].param;
    std::vector<LayerCost> rows;
    std::map<std::string, size_t> row_of;
    for (auto& [w, pos] : positions) {
        row_of[w] = rows.size();
        rows.push_back({w, 0, 0, 0, 0});
    }
    for (auto& [name, t] : model.named_parameters()) {
        std::string layer = name;
        if (!row_of.count(layer)) {
            auto o = owner.find(name);
            if (o != owner.end()) layer = o->second;
            else {
                size_t dot = name.rfind('.');
                layer = (dot == std::string::npos ? name : name.substr(0, dot)) + ".weight";
            }
        }
        if (!row_of.count(layer)) {
            layer = "other";
            if (!row_of.count(layer)) {
                row_of[layer] = rows.size();
                rows.push_back({layer, 0, 0, 0, 0});
            }
        }
        nn::Tensor keep = survival(name, t, kept, masks);
        int64_t n_keep = 0;
        for (int64_t i = 0; i < keep.numel(); i++) n_keep += keep.data()[i] != 0.0f;
        LayerCost& r = rows[row_of[layer]];
        r.params += t.numel();
        r.params_effective += n_keep;
        if (name == layer) {
            int64_t pos = 0;
            for (auto& [w, p] : positions)
                if (w == name) pos = p;
            r.macs += t.numel() * pos;
            r.macs_effective += n_keep * pos;
        }
    }
    return rows;
}

}  // namespace

std::vector<LayerCost> layer_costs(const std::string& spec, nn::Module& model, const MaskSet& masks) {
    std::vector<Group> groups;
    // Models without dependency groups are still counted (effective = unmasked elements only).
    try {
        groups = dependency_groups(spec, model);
    } catch (const nn::Error&) {
        groups.clear();
    }
    return costs_with(spec, model, groups, alive_units(groups, model, masks), masks);
}

CostTotals total_costs(const std::vector<LayerCost>& layers) {
    CostTotals t;
    for (auto& l : layers) {
        t.params += l.params;
        t.macs += l.macs;
        t.params_effective += l.params_effective;
        t.macs_effective += l.macs_effective;
    }
    return t;
}

std::string cost_line(const CostTotals& t) {
    return "Params: " + group_thousands(t.params) + " \u2192 " + group_thousands(t.params_effective) + ", MACs: " +
           group_thousands(t.macs) + " \u2192 " + group_thousands(t.macs_effective);
}

std::string format_costs(const std::vector<LayerCost>& layers) {
    size_t w = 5;
    for (auto& l : layers) w = std::max(w, l.layer.size());
    std::string out;
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-*s %12s %14s %12s %14s\n", int(w), "layer", "params", "MACs", "params eff",
                  "MACs eff");
    out += buf;
    auto line = [&](const std::string& name, int64_t p, int64_t m, int64_t pe, int64_t me) {
        std::snprintf(buf, sizeof buf, "%-*s %12s %14s %12s %14s\n", int(w), name.c_str(), group_thousands(p).c_str(),
                      group_thousands(m).c_str(), group_thousands(pe).c_str(), group_thousands(me).c_str());
        out += buf;
    };
    for (auto& l : layers) line(l.layer, l.params, l.macs, l.params_effective, l.macs_effective);
    CostTotals t = total_costs(layers);
    line("total", t.params, t.macs, t.params_effective, t.macs_effective);
    return out;
}

CostTotals thinned_costs(const std::string& spec, nn::Module& model, const std::vector<Group>& groups,
                         const std::vector<double>& ratios) {
    std::vector<std::vector<uint8_t>> alive;
    for (size_t gi = 0; gi < groups.size(); gi++) {
        double r = gi < ratios.size() ? ratios[gi] : 0.0;
        ENSURE(r >= 0.0 && r <= 1.0, "thinned_costs: ratio ", r, " of '", groups[gi].name, "' is not in [0, 1]");
        int64_t n_dead = std::llround(r * double(groups[gi].units));
        std::vector<uint8_t> a(size_t(groups[gi].units), 1);
        for (int64_t u = 0; u < n_dead; u++) a[size_t(u)] = 0;
        alive.push_back(a);
    }
    return total_costs(costs_with(spec, model, groups, alive, {}));  // dense, and effective = thinned
}

}  // namespace prune
