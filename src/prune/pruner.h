// pruner.h — the per-linear interface shared by the layer-wise methods.
//
// A LayerPruner sees the inputs of one linear during calibration (add_batch), then prunes that
// linear's weight in place (prune) and returns the keep mask, or updates the weight on a mask it is
// given (reconstruct). Statistics are kept in float32 or
// float64 whatever the model dtype. Implementations: magnitude.cpp, wanda.cpp, sparsegpt.cpp,
// admm.cpp. The block-by-block driver is layerwise.h.
#pragma once
#include <memory>
#include <string>
#include <torch/torch.h>

#include "prune/sparsity_pattern.h"

namespace leap {

struct PrunerOptions {
  bool shift_zero_metrics = true;  // Wanda: add the smallest positive column statistic to all
  double sparsegpt_percdamp = 0.01;
  int64_t sparsegpt_blocksize = 128;
  bool sparsegpt_tensor_ops = false;  // the tensor-op column loop also on CPU (tests compare it with the CPU loops)
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
  // W: [out, in] dense weight, updated in place on the given keep mask [out, in] (bool), which the
  // result keeps exactly: the method's weight update with the mask held fixed (SparseGPT's OBS
  // update, ADMM's ridge and dual steps), as OPTIMA does for any mask. Methods without a weight
  // update (magnitude, Wanda) refuse.
  virtual void reconstruct(torch::Tensor& W, const torch::Tensor& keep);
  // Linears that read the same input tensor (q/k/v, gate/up) need one statistics pass when the
  // method shares: the driver feeds only the first of them and then calls copy_statistics_from
  // (same method, same input) on the others before any prune().
  virtual bool shares_statistics() const { return false; }
  virtual void copy_statistics_from(const LayerPruner& /*first*/) {}
};

// method: magnitude | wanda | sparsegpt | admm
std::unique_ptr<LayerPruner> make_pruner(const std::string& method, const PrunerOptions& o, int64_t in_features,
                                         const torch::Device& device);

}  // namespace leap
