// hf_export.h — writes a pruned model as a plain HF folder that transformers and vLLM load as an
// ordinary model: config.json, tokenizer and generation files copied byte for byte from the
// source folder; weights as safetensors under the source's own keys and dtypes (exact zeros),
// sharded with model.safetensors.index.json when larger than the shard limit; tensors leap does
// not touch (vision tower, ...) copied unchanged; no sparsity fields in config.json. The sidecar
// leap_sparsity.json carries the method, budget and achieved sparsity. The folder is assembled
// under a temporary name and renamed into place, so an interrupted run never leaves a folder
// that looks complete.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "model/model.h"

namespace leap {

constexpr uint64_t kDefaultMaxShardBytes = 5ull << 30;  // HF's default "5GB"

void export_hf_model(CausalLM& m, const std::string& source_dir, const std::string& out_dir,
                     const nlohmann::ordered_json& sidecar, uint64_t max_shard_bytes = kDefaultMaxShardBytes);

}  // namespace leap
