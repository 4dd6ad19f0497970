// wanda.cpp — Wanda (Sun et al. 2023): score S_ij = |W_ij| · ‖X_j‖₂, pruned per output row
// (or per N:M group). The column statistic is Wanda's running mean over calibration sequences of
// the squared column norms, a_j ← a_j·n/(n+1) + ‖X_j‖²/(n+1), updated one sequence at a time in
// float32 exactly as lib/layerwrapper.py does, so masks are bit-identical to the reference for the
// same activations. With shift_zero_metrics (LEAP's prior), the smallest positive a_j is added
// to every a_j so that dead input channels do not tie at zero (docs/METHOD.md §2.4).
#include "prune/pruner.h"

namespace leap {
namespace {

class WandaPruner : public LayerPruner {
 public:
  WandaPruner(const PrunerOptions& o, int64_t in, const torch::Device& dev)
      : shift_(o.shift_zero_metrics),
        scaler_row_(torch::zeros({in}, torch::TensorOptions().dtype(torch::kFloat32).device(dev))) {}

  void add_batch(const torch::Tensor& x) override {
    torch::NoGradGuard ng;
    torch::Tensor xs = x.dim() == 2 ? x.unsqueeze(0) : x;
    for (int64_t b = 0; b < xs.size(0); ++b) {  // the reference sees one sequence per call
      torch::Tensor inp = xs[b].reshape({-1, xs.size(-1)}).t().to(torch::kFloat32);  // [in, S]
      scaler_row_.mul_(double(nsamples_) / double(nsamples_ + 1));
      nsamples_ += 1;
      scaler_row_.add_(torch::linalg_vector_norm(inp, 2, {1}).pow(2) / double(nsamples_));
    }
  }

  torch::Tensor prune(torch::Tensor& W, double s, const SparsityPattern& p) override {
    torch::NoGradGuard ng;
    torch::Tensor a = scaler_row_;
    if (shift_) {
      torch::Tensor pos = a.masked_select(a > 0);
      if (pos.numel() > 0) a = a + pos.min();
    }
    torch::Tensor metric = W.abs().to(torch::kFloat32) * torch::sqrt(a.reshape({1, -1}));  // S = |W|·‖X_j‖
    torch::Tensor keep = p.unstructured() ? keep_mask_per_row(metric, s) : keep_mask_nm(metric, p);
    W.mul_(keep.to(W.scalar_type()));
    return keep;
  }

 private:
  bool shift_;
  torch::Tensor scaler_row_;  // [in]
  int64_t nsamples_ = 0;
};

}  // namespace

std::unique_ptr<LayerPruner> make_wanda_pruner(const PrunerOptions& o, int64_t in, const torch::Device& dev) {
  return std::make_unique<WandaPruner>(o, in, dev);
}

}  // namespace leap
