// final_mask.h — the hard mask LEAP ends with (docs/METHOD.md §1.7): "exact" keeps the global top-k
// of θ over all masked linears at the budget (ties at the threshold: the earliest in layer order,
// so the count is exact), "threshold" keeps θ > 0. The k-th largest θ is found by a radix select
// on θ's float32 bit patterns, where θ lives (CPU or GPU), in chunks: four histogram passes and
// O(chunk) scratch, instead of concatenating and sorting every logit (16 bytes per parameter).
// Not here: training θ (trainer.h).
#pragma once
#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace leap {

// The k-th largest value (1-based) of all elements of `xs` (float32, finite), exactly. k ≤ 0:
// +inf; k > numel: −inf.
double kth_largest(const std::vector<torch::Tensor>& xs, int64_t k);

// Keep masks (bool, θ's shapes and device) by name; names[i] goes with theta[i].
std::map<std::string, torch::Tensor> final_keep_masks(const std::vector<torch::Tensor>& theta,
                                                      const std::vector<std::string>& names, double sparsity,
                                                      const std::string& rule);

}  // namespace leap
