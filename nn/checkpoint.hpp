// Model checkpoints as safetensors: the module's state dict under PyTorch's names (integer buffers
// such as num_batches_tracked as I64) plus a string metadata map ("arch" names the model so that
// tools can rebuild it). Loading is strict and names the file, the tensor and both shapes on any
// mismatch. Entries under other prefixes (optimizer state, masks) are left for their owners.
#pragma once

#include <map>
#include <string>

#include "nn/module.hpp"
#include "nn/safetensors.hpp"

namespace nn {

// The module's tensors as file entries (F32, integer buffers I64).
void put_module(st::File& f, const Module& m, const std::string& prefix = "");
// Copies the module's tensors from the file; every tensor must be present with the right shape.
void load_module(const st::File& f, Module& m, const std::string& source, const std::string& prefix = "");

void save_model(const std::string& path, const Module& m, const std::map<std::string, std::string>& metadata);
// Reads the file and loads the module; returns the file for callers that need more of it.
st::File load_model(const std::string& path, Module& m);

}  // namespace nn
