// Training objectives of the BERT models as nn::Trainer loss functions: masked-language modelling
// (batch.ids [B, T] corrupted input, batch.y [B*T] original ids at the selected positions and
// kIgnoreIndex elsewhere, as data::MlmDataset makes them) and sequence classification (batch.ids,
// batch.y [B] class ids). Throughput counts real (non-padding) tokens.
#pragma once

#include "nn/trainer.hpp"
#include "nn/transformer.hpp"

namespace nn {

constexpr int64_t kIgnoreIndex = -100;

// Cross-entropy over the selected positions only: the vocabulary projection runs on those rows.
LossFn mlm_loss(BertForMaskedLM& model);
LossFn sequence_classification_loss(BertForSequenceClassification& model);

// Flat positions b*T + t where targets != ignore, and the targets there.
void selected_positions(const IntTensor& targets, IntTensor& positions, IntTensor& labels,
                        int64_t ignore_index = kIgnoreIndex);

}  // namespace nn
