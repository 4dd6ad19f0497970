// sparsity_summary.h — the achieved sparsity of a model, counted from its weights: exact zeros of
// every decoder linear (what the budget is measured over), summed per block, per linear type and
// overall. One summary feeds leap_sparsity.json (`leap prune`) and `leap inspect sparsity`.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "model/model.h"

namespace leap {

struct LinearSparsity {
  std::string name, type;
  int64_t layer = 0, numel = 0, zeros = 0;
  double sparsity() const { return numel ? double(zeros) / double(numel) : 0.0; }
};

struct ZeroCount {
  int64_t zeros = 0, numel = 0;
  double sparsity() const { return numel ? double(zeros) / double(numel) : 0.0; }
};

struct SparsitySummary {
  std::vector<LinearSparsity> linears;        // in decoder_linears() order
  std::map<int64_t, ZeroCount> per_layer;     // by block index
  std::map<std::string, ZeroCount> per_type;  // by linear type ("q_proj", ...)
  ZeroCount overall;
};

// Counts exact zeros of every decoder linear of `m`.
std::vector<LinearSparsity> measure_sparsity(CausalLM& m);
SparsitySummary summarize_sparsity(std::vector<LinearSparsity> linears);
// {"overall", "zeros", "params", "per_layer": [...], "per_linear_type": {...}, "per_linear": {...}}
nlohmann::ordered_json sparsity_json(const SparsitySummary& s);

}  // namespace leap
