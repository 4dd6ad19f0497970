// leap_trainer.h — LEAP end to end (method.md §1): Wanda prior → per-weight logits → training of
// the logits only (causal-LM CE + global density penalty − decaying weight-norm reward; AdamW,
// cosine schedule with warm-up, gradient accumulation, clipping; τ/κ annealing) → final hard mask
// (exact global top-k at the budget, or θ > 0) applied to the frozen weights.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "leap/model.h"
#include "leap/options.h"
#include "leap/tokenizer.h"

namespace leap {

struct LeapResult {
  std::map<std::string, torch::Tensor> keep;  // final keep masks by linear name
  nlohmann::ordered_json summary;             // training summary for leap_sparsity.json
};

// Trains masks for `m` (weights untouched until the end, then pruned in place).
// prior: Wanda keep masks by linear name.
LeapResult train_leap(CausalLM& m, const Tokenizer& tok, const std::map<std::string, torch::Tensor>& prior,
                      const PruneOptions& o);

// Packs the documents of `path` into [nblocks, seqlen] blocks (each document tokenised with the
// tokenizer's default special tokens, concatenated, remainder dropped).
torch::Tensor pack_training_blocks(const Tokenizer& tok, const std::string& path, int64_t seqlen);

}  // namespace leap
