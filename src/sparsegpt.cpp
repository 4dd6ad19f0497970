// sparsegpt.cpp — SparseGPT (Frantar & Alistarh 2023), ported from the reference sparsegpt.py.
//
// H = (2/N) Σ x xᵀ in float32 (running mean over sequences); dead inputs (H_jj = 0) get H_jj = 1
// and W_:j = 0; dampening λ = percdamp·mean(diag H); U = upper Cholesky factor of H⁻¹. Columns are
// processed in blocks of `blocksize`: the mask of a block is chosen once from W²/U_jj² over the
// whole rows × block group (adaptive mask selection), then column by column the OBS update
// W_:,j: −= (w − q)/U_jj · U_j,j: spreads the error, and a lazy batched update carries it to later
// blocks. Unlike the reference's "score ≤ threshold" (which prunes one extra weight per block),
// each block prunes an exact count so that the layer ends at exactly floor(numel·s) zeros.
#include "leap/error.h"
#include "leap/pruner.h"

namespace leap {
namespace {

class SparseGptPruner : public LayerPruner {
 public:
  SparseGptPruner(const PrunerOptions& o, int64_t in, const torch::Device& dev)
      : percdamp_(o.sparsegpt_percdamp), blocksize_(o.sparsegpt_blocksize),
        H_(torch::zeros({in, in}, torch::TensorOptions().dtype(torch::kFloat32).device(dev))) {}

  void add_batch(const torch::Tensor& x) override {
    torch::NoGradGuard ng;
    torch::Tensor xs = x.dim() == 2 ? x.unsqueeze(0) : x;
    for (int64_t b = 0; b < xs.size(0); ++b) {  // H ← H·n/(n+1) + (2/(n+1)) X Xᵀ, one sequence at a time
      torch::Tensor inp = xs[b].reshape({-1, xs.size(-1)}).t().to(torch::kFloat32);  // [in, S]
      H_.mul_(double(n_) / double(n_ + 1));
      n_ += 1;
      inp = inp * std::sqrt(2.0 / double(n_));
      H_.add_(inp.matmul(inp.t()));
    }
  }

  torch::Tensor prune(torch::Tensor& Wt, double s, const SparsityPattern& p) override {
    torch::NoGradGuard ng;
    const int64_t rows = Wt.size(0), cols = Wt.size(1);
    torch::Tensor W = Wt.to(torch::kFloat32).clone();
    torch::Tensor H = H_;
    H_ = torch::Tensor();
    torch::Tensor dead = H.diag() == 0;
    H.diagonal().masked_fill_(dead, 1.0);
    W.index_put_({torch::indexing::Slice(), dead}, 0.0);
    double damp = percdamp_ * H.diag().mean().item<double>();
    H.diagonal().add_(damp);
    torch::Tensor L = torch::linalg_cholesky(H);
    torch::Tensor Hinv = torch::linalg_cholesky(torch::cholesky_inverse(L), /*upper=*/true);  // H⁻¹ = UᵀU
    torch::Tensor keep = torch::ones({rows, cols}, torch::TensorOptions().dtype(torch::kBool).device(W.device()));
    const int64_t total_prune = int64_t(double(rows * cols) * s);
    int64_t pruned = 0;
    for (int64_t i1 = 0; i1 < cols; i1 += blocksize_) {
      const int64_t i2 = std::min(i1 + blocksize_, cols), count = i2 - i1;
      torch::Tensor W1 = W.slice(1, i1, i2).clone();
      torch::Tensor Q1 = torch::zeros_like(W1), Err1 = torch::zeros_like(W1);
      torch::Tensor Hinv1 = Hinv.slice(0, i1, i2).slice(1, i1, i2);
      torch::Tensor d2 = Hinv1.diag().pow(2).reshape({1, -1});
      torch::Tensor prune1 = torch::zeros({rows, count}, keep.options());
      if (p.unstructured()) {
        // this block's share of the exact layer budget
        int64_t target = int64_t(double(rows * i2) * s) - pruned;
        if (i2 == cols) target = total_prune - pruned;
        target = std::max<int64_t>(0, std::min<int64_t>(target, rows * count));
        torch::Tensor score = (W1.pow(2) / d2).flatten();  // w² / [U⁻¹]_jj² over the rows × block group
        if (target > 0) {
          torch::Tensor idx = std::get<1>(score.sort(true, 0, false)).slice(0, 0, target);
          prune1.view({-1}).index_fill_(0, idx, true);
        }
        pruned += target;
      }
      for (int64_t i = 0; i < count; ++i) {
        torch::Tensor w = W1.select(1, i);
        torch::Tensor d = Hinv1[i][i];
        if (!p.unstructured() && i % p.m == 0) {  // N:M: choose the group's mask when reaching it
          const int64_t g = std::min(p.m, count - i);
          torch::Tensor tmp = W1.slice(1, i, i + g).pow(2) / d2.slice(1, i, i + g);
          torch::Tensor idx = std::get<1>(tmp.sort(true, 1, false)).slice(1, 0, std::max<int64_t>(0, g - p.n));
          prune1.slice(1, i, i + g).scatter_(1, idx, true);
        }
        torch::Tensor q = w.masked_fill(prune1.select(1, i), 0.0);
        Q1.select(1, i).copy_(q);
        torch::Tensor err = (w - q) / d;                                                    // OBS error
        W1.slice(1, i).sub_(err.unsqueeze(1).matmul(Hinv1[i].slice(0, i).unsqueeze(0)));  // W_:,i: −= err·U_i,i:
        Err1.select(1, i).copy_(err);
      }
      W.slice(1, i1, i2).copy_(Q1);
      if (i2 < cols) W.slice(1, i2).sub_(Err1.matmul(Hinv.slice(0, i1, i2).slice(1, i2)));  // lazy batch update
      keep.slice(1, i1, i2).copy_(prune1.logical_not());
    }
    W.mul_(keep.to(W.scalar_type()));  // exact zeros
    Wt.copy_(W.to(Wt.scalar_type()));
    return keep;
  }

 private:
  double percdamp_;
  int64_t blocksize_;
  torch::Tensor H_;  // [in, in]
  int64_t n_ = 0;
};

}  // namespace

std::unique_ptr<LayerPruner> make_sparsegpt_pruner(const PrunerOptions& o, int64_t in, const torch::Device& dev) {
  LEAP_CHECK(o.sparsegpt_blocksize > 0, "--blocksize must be positive");
  return std::make_unique<SparseGptPruner>(o, in, dev);
}

}  // namespace leap
