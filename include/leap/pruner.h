// pruner.h — the per-linear interface shared by the layer-wise methods.
//
// A LayerPruner sees the inputs of one linear during calibration (add_batch), then prunes that
// linear's weight in place (prune) and returns the keep mask. Statistics are kept in float32 or
// float64 whatever the model dtype. Implementations: magnitude.cpp, wanda.cpp, sparsegpt.cpp,
// admm.cpp. The block-by-block driver is layerwise.h.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "leap/sparsity_pattern.h"

namespace leap {

struct PrunerOptions {
  bool shift_zero_metrics = true;  // Wanda: add the smallest positive column statistic to all
  double sparsegpt_percdamp = 0.01;
  int64_t sparsegpt_blocksize = 128;
  double admm_percdamp = 0.1;
  double admm_rho = 1.0;
  int64_t admm_iters = 20;
  int64_t admm_iterative_prune = 15;
  bool admm_gradual = false;  // paper's cubic schedule s_k (the published code uses the final s)
};

class LayerPruner {
 public:
  virtual ~LayerPruner() = default;
  virtual bool needs_calibration() const { return true; }
  // x: [B, S, in] (any float dtype). Called once per calibration batch.
  virtual void add_batch(const torch::Tensor& x) = 0;
  // W: [out, in] weight, modified in place (pruned entries exactly 0, kept ones possibly updated).
  virtual torch::Tensor prune(torch::Tensor& W, double sparsity, const SparsityPattern& p) = 0;
};

// method: magnitude | wanda | sparsegpt | admm
std::unique_ptr<LayerPruner> make_pruner(const std::string& method, const PrunerOptions& o, int64_t in_features,
                                         const torch::Device& device);

}  // namespace leap
