// owl.h — Outlier-Weighted Layerwise sparsity (OWL, Yin et al. 2024): a sparsity per decoder block
// from the share of its outlier weights, as llm-compressor computes it for
// `sparsity_profile="owl"` (SparsityModifierBase._infer_owl_layer_sparsity), so that the same
// `owl_m` and `owl_lmbda` give the same allocation:
//   a_j     = Σ_samples ‖X_{s,:,j}‖₂            input-feature norms of each linear, dense model
//   z       = |W| ⊙ a (per column), over all linears of block ℓ
//   D_ℓ     = 100 · #{z > M · mean(z)} / #z      the block's outlier ratio, in percent
//   D'_ℓ    = (D_ℓ − min D) / (max D − min D) · 2λ
//   s_ℓ     = 1 − (D'_ℓ − mean D' + (1 − s))     mean s_ℓ = s, max − min = 2λ
// so every s_ℓ lies within s ± 2λ (within s ± λ only when the ratios are spread symmetrically:
// llm-compressor's rule, kept for equal results, centres the span on the mean, not on s).
// More outliers, less pruning. The statistics come from one dense pass over the calibration
// sequences, block by block (one block's activations alive at a time).
//
// Not here: pruning with the sparsities (prune/layerwise.h takes them per block).
#pragma once
#include <torch/torch.h>
#include <vector>

#include "model/model.h"

namespace leap {

struct OwlAllocation {
  std::vector<double> outlier_pct;     // D_ℓ per block
  std::vector<double> block_sparsity;  // s_ℓ per block
};

// D → s_ℓ (the last three lines above). All D equal: every block gets s.
std::vector<double> owl_sparsities(const std::vector<double>& outlier_pct, double sparsity, double lambda);

// The whole allocation for `m` (dense) on calib_ids [N, L], `batch` sequences per forward.
OwlAllocation owl_allocation(CausalLM& m, const torch::Tensor& calib_ids, double sparsity, double owl_m, double lambda,
                             int64_t batch);

}  // namespace leap
