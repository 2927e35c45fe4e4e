#include "nn/bert_tasks.hpp"

#include "data/text.hpp"
#include "nn/check.hpp"
#include "nn/ops.hpp"

namespace nn {

static_assert(kIgnoreIndex == data::MlmDataset::kIgnore, "one ignore index for MLM targets");

namespace {

int64_t count_tokens(const IntTensor& ids, int64_t pad_id) {
    int64_t n = 0;
    for (int64_t v : ids.values) n += v != pad_id;
    return n;
}

}  // namespace

void selected_positions(const IntTensor& targets, IntTensor& positions, IntTensor& labels, int64_t ignore_index) {
    std::vector<int64_t> pos, lab;
    for (int64_t i = 0; i < targets.numel(); i++)
        if (targets[i] != ignore_index) {
            pos.push_back(i);
            lab.push_back(targets[i]);
        }
    int64_t m = int64_t(pos.size());
    positions = IntTensor::from_vector(std::move(pos), Shape{m});
    labels = IntTensor::from_vector(std::move(lab), Shape{m});
}

LossFn mlm_loss(BertForMaskedLM& model) {
    return [&model](Module&, const data::Batch& batch) {
        ENSURE(batch.ids.shape.size() == 2 && batch.y.numel() == batch.ids.numel(), "MLM: batch ids ",
               batch.ids.shape, " and ", batch.y.numel(), " targets do not match (one target per token expected)");
        IntTensor positions, labels;
        selected_positions(batch.y, positions, labels);
        ENSURE(positions.numel() > 0, "MLM: a batch without any selected token");
        Tensor logits = model.forward_positions(batch.ids, positions);
        StepOutput out;
        out.loss = cross_entropy(logits, labels);
        out.n_correct = count_correct(logits, labels);
        out.n_counted = labels.numel();
        out.n_items = count_tokens(batch.ids, model.bert->config.pad_id);
        return out;
    };
}

LossFn sequence_classification_loss(BertForSequenceClassification& model) {
    return [&model](Module&, const data::Batch& batch) {
        ENSURE(batch.ids.shape.size() == 2 && batch.y.numel() == batch.ids.shape[0], "classification: batch ids ",
               batch.ids.shape, " and ", batch.y.numel(), " labels do not match");
        Tensor logits = model.forward_ids(batch.ids);
        StepOutput out;
        out.loss = cross_entropy(logits, batch.y);
        out.n_correct = count_correct(logits, batch.y);
        out.n_counted = batch.y.numel();
        out.n_items = count_tokens(batch.ids, model.bert->config.pad_id);
        return out;
    };
}

}  // namespace nn
