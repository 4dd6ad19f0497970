// sparsity_pattern.h — sparsity patterns and the mask selections every method shares.
//
// A pattern is "unstructured" or "N:M" (at most N non-zeros in every M consecutive weights of a
// row, along the input dimension; 2:4 and 4:8 as in Wanda/SparseGPT; "0:0" is llm-compressor's
// spelling of unstructured). Masks are bool tensors of the weight's shape, true = keep.
// See docs/METHOD.md §2.2.
#pragma once
#include <string>
#include <torch/torch.h>

namespace leap {

struct SparsityPattern {
  int64_t n = 0, m = 0;  // 0:0 = unstructured
  bool unstructured() const { return m == 0; }
  std::string str() const;
};

SparsityPattern parse_sparsity_type(const std::string& s);
// For N:M the sparsity is fixed at 1 − N/M: returns it, or checks --sparsity agrees.
double pattern_sparsity(const SparsityPattern& p, double requested);

// Keep mask pruning, in every row of `score` [rows, cols], the floor(cols·s) lowest entries
// (the choice of a stable ascending sort, so ties go to the lower column index; found by
// selection, not sorted) — Wanda's per-output groups.
torch::Tensor keep_mask_per_row(const torch::Tensor& score, double sparsity);
// Keep mask pruning the M−N lowest of every M consecutive entries of each row (a trailing group
// shorter than M, when the width is not a multiple of M, keeps its min(N, width) largest).
torch::Tensor keep_mask_nm(const torch::Tensor& score, const SparsityPattern& p);
// Keep mask pruning exactly floor(numel·s) lowest entries of the whole tensor (stable order, by
// selection as above).
torch::Tensor keep_mask_global(const torch::Tensor& score, double sparsity);

}  // namespace leap
