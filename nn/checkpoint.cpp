#include "nn/checkpoint.hpp"

#include <cmath>

#include "nn/check.hpp"

namespace nn {

void put_module(st::File& f, const Module& m, const std::string& prefix) {
    for (auto& [name, t] : m.state_dict()) {
        if (m.is_integer_buffer(name)) {
            IntTensor it(t.shape());
            Tensor c = t.contiguous();
            for (int64_t i = 0; i < c.numel(); i++) it.values[size_t(i)] = int64_t(std::llround(c.data()[i]));
            f.put_int(prefix + name, it, st::DType::I64);
        } else {
            f.put(prefix + name, t);
        }
    }
}

void load_module(const st::File& f, Module& m, const std::string& source, const std::string& prefix) {
    std::map<std::string, Tensor> values;
    std::string missing;
    for (auto& [name, t] : m.state_dict()) {
        const st::Entry* e = f.find(prefix + name);
        if (!e) {
            missing += (missing.empty() ? "" : ", ") + prefix + name;
            continue;
        }
        Tensor v;
        if (m.is_integer_buffer(name)) {
            IntTensor it = f.int_tensor(prefix + name);
            v = Tensor::empty(it.shape);
            for (int64_t i = 0; i < it.numel(); i++) v.data()[i] = float(it[i]);
        } else {
            v = f.tensor(prefix + name);
        }
        values[name] = v;
    }
    ENSURE(missing.empty(), source, ": missing tensors for this model: ", missing,
           " (is this a checkpoint of a different architecture?)");
    m.load_state_dict(values, source);
}

void save_model(const std::string& path, const Module& m, const std::map<std::string, std::string>& metadata) {
    st::File f;
    f.metadata = metadata;
    put_module(f, m);
    f.write(path);
}

st::File load_model(const std::string& path, Module& m) {
    st::File f = st::File::read(path);
    load_module(f, m, path);
    return f;
}

}  // namespace nn
