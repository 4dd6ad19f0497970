// magnitude.cpp — magnitude pruning (SLiM's prune_magnitude): score |W|, one comparison group per
// layer (the whole matrix), or per N:M group. Exactly floor(numel·s) weights are pruned (the
// reference's "≤ threshold" prunes one more, or more on ties). No calibration.
// See docs/METHOD.md §2.3.
#include "prune/pruner.h"

namespace leap {
namespace {

class MagnitudePruner : public LayerPruner {
 public:
  bool needs_calibration() const override { return false; }
  void add_batch(const torch::Tensor&) override {}
  torch::Tensor prune(torch::Tensor& W, double s, const SparsityPattern& p) override {
    torch::NoGradGuard ng;
    torch::Tensor score = W.abs().to(torch::kFloat32);
    torch::Tensor keep = p.unstructured() ? keep_mask_global(score, s) : keep_mask_nm(score, p);
    W.mul_(keep.to(W.scalar_type()));
    return keep;
  }
};

}  // namespace

std::unique_ptr<LayerPruner> make_magnitude_pruner() {
  return std::make_unique<MagnitudePruner>();
}

}  // namespace leap
