// sparsity_summary.cpp — see sparsity_summary.h.
#include "prune/sparsity_summary.h"

namespace leap {

std::vector<LinearSparsity> measure_sparsity(CausalLM& m) {
  torch::NoGradGuard ng;
  std::vector<LinearSparsity> out;
  for (const auto& l : m->decoder_linears()) {
    const torch::Tensor& w = l.linear->weight;
    out.push_back({l.name, l.type, l.layer, w.numel(), (w == 0).sum().item<int64_t>()});
  }
  return out;
}

SparsitySummary summarize_sparsity(std::vector<LinearSparsity> linears) {
  SparsitySummary s;
  for (const auto& r : linears)
    for (ZeroCount* c : {&s.per_layer[r.layer], &s.per_type[r.type], &s.overall}) {
      c->zeros += r.zeros;
      c->numel += r.numel;
    }
  s.linears = std::move(linears);
  return s;
}

nlohmann::ordered_json sparsity_json(const SparsitySummary& s) {
  using ojson = nlohmann::ordered_json;
  ojson layers = ojson::array(), types = ojson::object(), linears = ojson::object();
  for (const auto& [l, c] : s.per_layer) layers.push_back(c.sparsity());
  for (const auto& [t, c] : s.per_type) types[t] = c.sparsity();
  for (const auto& r : s.linears) linears[r.name] = r.sparsity();
  return {{"overall", s.overall.sparsity()}, {"zeros", s.overall.zeros},
          {"params", s.overall.numel},       {"per_layer", layers},
          {"per_linear_type", types},        {"per_linear", linears}};
}

}  // namespace leap
