// layerwise.h — sequential block-by-block pruning with calibration data, the flow Wanda,
// SparseGPT and ADMM share: capture the inputs of block 0 for all calibration sequences; then for
// each decoder block gather the statistics of all its linears in one pass over the still-dense
// block, prune them, and run the sequences through the pruned block to get the next block's
// inputs. Only one block's activations and statistics are alive at a time, so memory does not
// grow with depth; with `offload_activations` the activations live on the CPU between uses.
// See docs/METHOD.md §2.1.
#pragma once
#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "model/model.h"
#include "prune/pruner.h"
#include "prune/sparsity_pattern.h"
#include "prune/sparsity_summary.h"

namespace leap {

// Where prune_layerwise's time went, in host wall seconds; on CUDA every phase ends with a device
// synchronisation, so its kernels are counted in it.
struct LayerwiseTimes {
  double forward_s = 0;     // embedding and block forward passes: the dense statistics pass and the pruned-block pass
  double statistics_s = 0;  // the pruners' add_batch: Wanda's input norms, SparseGPT's and ADMM's XᵀX
  double solve_s = 0;       // masks and weight updates (LayerPruner::prune / reconstruct)
};

struct LayerwiseOptions {
  std::string method = "wanda";  // magnitude | wanda | sparsegpt | admm
  double sparsity = 0.5;
  std::vector<double> block_sparsity;  // per decoder block (OWL, prune/owl.h); empty: `sparsity` everywhere
  SparsityPattern pattern;
  PrunerOptions pruner;
  int64_t batch = 8;  // calibration sequences per forward pass
  bool offload_activations = false;
  bool share_statistics = true;  // one statistics pass for linears reading the same input (q/k/v, gate/up)
  // Given keep masks by linear name: the method (sparsegpt | admm) updates the dense weights on them
  // (LayerPruner::reconstruct) instead of choosing masks; --reconstruct.
  const std::map<std::string, torch::Tensor>* keep = nullptr;
  LayerwiseTimes* times = nullptr;  // when set, receives the phase times (they are logged either way)
};

// Prunes the decoder linears of `m` in place (or, with o.keep, reconstructs them on those masks).
// calib_ids: [N, L] (ignored for magnitude). Returns the keep mask of every linear, by name.
std::map<std::string, torch::Tensor> prune_layerwise(CausalLM& m, const torch::Tensor& calib_ids,
                                                     const LayerwiseOptions& o);

}  // namespace leap
