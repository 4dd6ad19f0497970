// sparsegpt.cpp — SparseGPT (Frantar & Alistarh 2023), ported from the reference sparsegpt.py.
//
// H = (2/N) Σ x xᵀ in float32 (running mean over sequences); dead inputs (H_jj = 0) get H_jj = 1
// and W_:j = 0; dampening λ = percdamp·mean(diag H); U = upper Cholesky factor of H⁻¹. Columns are
// processed in blocks of `blocksize`: the mask of a block is chosen once from W²/U_jj² over the
// whole rows × block group (adaptive mask selection), then column by column the OBS update
// W_:,j: −= (w − q)/U_jj · U_j,j: spreads the error, and a lazy batched update carries it to later
// blocks. Unlike the reference's "score ≤ threshold" (which prunes one extra weight per block),
// each block prunes an exact count so that the layer ends at exactly floor(numel·s) zeros.
//
// On CPU in float32 the column loop runs as plain loops, rows in parallel (every row's OBS update
// within a block is independent of the other rows), instead of ~8 small tensor ops per column;
// other devices use the tensor ops. Both choose the same masks (ties go to the lower index).
// See docs/METHOD.md §2.5.
#include <ATen/Parallel.h>
#include <algorithm>
#include <numeric>

#include "base/error.h"
#include "prune/pruner.h"

namespace leap {
namespace {

// Marks in prune[0..n) the `target` smallest scores, ties to the lower index (a stable ascending sort's first
// `target`).
void mark_smallest(const float* score, int64_t n, int64_t target, uint8_t* prune) {
  if (target <= 0) return;
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  auto less = [score](int32_t a, int32_t b) { return score[a] < score[b] || (score[a] == score[b] && a < b); };
  if (target < n) std::nth_element(idx.begin(), idx.begin() + target, idx.end(), less);
  for (int64_t k = 0; k < std::min(target, n); ++k) prune[idx[size_t(k)]] = 1;
}

// Columns [i1, i1+count) of W [rows, ld] (float32, row-major), in place. U: the rows [i1, i1+count)
// of the upper Cholesky factor of H⁻¹, [count, ldu] with U(i, j) at u[i·ldu + i1 + j]. For every row:
// column by column q = pruned ? 0 : w_i, err = (w_i − q)/U_ii, w_j −= err·U_ij for j > i (OBS),
// w_i = q, Err[r, i] = err. prune [rows, count]: chosen beforehand (unstructured) or here per N:M group.
void obs_block_rows(float* W, int64_t rows, int64_t ld, int64_t i1, int64_t count, const float* U, int64_t ldu,
                    uint8_t* prune, float* Err, const SparsityPattern& p) {
  std::vector<float> d2(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) d2[size_t(i)] = U[i * ldu + i1 + i] * U[i * ldu + i1 + i];
  at::parallel_for(0, rows, 8, [&](int64_t r0, int64_t r1) {
    std::vector<float> sc(static_cast<size_t>(std::max<int64_t>(p.m, 1)));
    for (int64_t r = r0; r < r1; ++r) {
      float* w = W + r * ld + i1;
      uint8_t* pr = prune + r * count;
      float* e = Err + r * count;
      for (int64_t i = 0; i < count; ++i) {
        if (!p.unstructured() && i % p.m == 0) {  // N:M: the group's mask from its current weights
          const int64_t g = std::min(p.m, count - i);
          for (int64_t j = 0; j < g; ++j) sc[size_t(j)] = w[i + j] * w[i + j] / d2[size_t(i + j)];
          mark_smallest(sc.data(), g, std::max<int64_t>(0, g - p.n), pr + i);
        }
        const float* u = U + i * ldu + i1;
        const float q = pr[i] ? 0.f : w[i];
        const float err = (w[i] - q) / u[i];                         // OBS error
        for (int64_t j = i + 1; j < count; ++j) w[j] -= err * u[j];  // W_:,j −= err·U_i,j
        w[i] = q;
        e[i] = err;
      }
    }
  });
}

class SparseGptPruner : public LayerPruner {
 public:
  SparseGptPruner(const PrunerOptions& o, int64_t in, const torch::Device& dev)
      : percdamp_(o.sparsegpt_percdamp),
        blocksize_(o.sparsegpt_blocksize),
        fast_cpu_(!o.sparsegpt_tensor_ops),
        H_(torch::zeros({in, in}, torch::TensorOptions().dtype(torch::kFloat32).device(dev))) {}

  void add_batch(const torch::Tensor& x) override {
    torch::NoGradGuard ng;
    // H ← H·n/(n+b) + (2/(n+b)) Σ_sequences X Xᵀ: the reference's running mean over sequences, one GEMM per batch
    const int64_t b = x.dim() == 2 ? 1 : x.size(0);
    torch::Tensor X = x.reshape({-1, x.size(-1)}).to(torch::kFloat32);  // [b·S, in]
    H_.addmm_(X.t(), X, double(n_) / double(n_ + b), 2.0 / double(n_ + b));
    n_ += b;
  }
  bool shares_statistics() const override { return true; }
  void copy_statistics_from(const LayerPruner& first) override {
    const auto& f = dynamic_cast<const SparseGptPruner&>(first);
    H_ = f.H_.clone();
    n_ = f.n_;
  }

  torch::Tensor prune(torch::Tensor& Wt, double s, const SparsityPattern& p) override {
    return solve(Wt, s, p, torch::Tensor());
  }
  void reconstruct(torch::Tensor& Wt, const torch::Tensor& keep) override { solve(Wt, 0.0, SparsityPattern(), keep); }

 private:
  // The OBS pass over the columns: masks chosen block by block (prune), or `fixed`'s (reconstruct).
  torch::Tensor solve(torch::Tensor& Wt, double s, const SparsityPattern& p, const torch::Tensor& fixed) {
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
    auto block_target = [&](int64_t i1, int64_t i2) {  // this block's share of the exact layer budget
      int64_t target = int64_t(double(rows * i2) * s) - pruned;
      if (i2 == cols) target = total_prune - pruned;
      return std::max<int64_t>(0, std::min<int64_t>(target, rows * (i2 - i1)));
    };
    if (W.is_cpu() && fast_cpu_) {
      Hinv = Hinv.contiguous();
      const float* U = Hinv.data_ptr<float>();
      float* Wp = W.data_ptr<float>();
      torch::Tensor prune_all = torch::zeros({rows, cols}, torch::TensorOptions().dtype(torch::kUInt8));
      for (int64_t i1 = 0; i1 < cols; i1 += blocksize_) {
        const int64_t i2 = std::min(i1 + blocksize_, cols), count = i2 - i1;
        torch::Tensor prune1 = fixed.defined()
                                   ? fixed.slice(1, i1, i2).logical_not().to(torch::kCPU, torch::kUInt8).contiguous()
                                   : torch::zeros({rows, count}, prune_all.options());
        torch::Tensor Err1 = torch::empty({rows, count}, W.options());
        if (p.unstructured() && !fixed.defined()) {
          const int64_t target = block_target(i1, i2);
          torch::Tensor score =
              (W.slice(1, i1, i2).pow(2) / Hinv.diag().slice(0, i1, i2).pow(2).reshape({1, -1})).contiguous();
          mark_smallest(score.data_ptr<float>(), rows * count, target, prune1.data_ptr<uint8_t>());
          pruned += target;
        }
        obs_block_rows(Wp, rows, cols, i1, count, U + i1 * cols, cols, prune1.data_ptr<uint8_t>(),
                       Err1.data_ptr<float>(), p);
        if (i2 < cols) W.slice(1, i2).addmm_(Err1, Hinv.slice(0, i1, i2).slice(1, i2), 1.0, -1.0);  // lazy batch update
        prune_all.slice(1, i1, i2).copy_(prune1);
      }
      keep = prune_all == 0;
      W.mul_(keep.to(W.scalar_type()));  // exact zeros
      Wt.copy_(W.to(Wt.scalar_type()));
      return keep;
    }
    for (int64_t i1 = 0; i1 < cols; i1 += blocksize_) {
      const int64_t i2 = std::min(i1 + blocksize_, cols), count = i2 - i1;
      torch::Tensor W1 = W.slice(1, i1, i2).clone();
      torch::Tensor Q1 = torch::zeros_like(W1), Err1 = torch::zeros_like(W1);
      torch::Tensor Hinv1 = Hinv.slice(0, i1, i2).slice(1, i1, i2);
      torch::Tensor d2 = Hinv1.diag().pow(2).reshape({1, -1});
      torch::Tensor prune1 =
          fixed.defined() ? fixed.slice(1, i1, i2).logical_not() : torch::zeros({rows, count}, keep.options());
      if (p.unstructured() && !fixed.defined()) {
        const int64_t target = block_target(i1, i2);
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
        torch::Tensor err = (w - q) / d;                                                  // OBS error
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

  double percdamp_;
  int64_t blocksize_;
  bool fast_cpu_;
  torch::Tensor H_;  // [in, in]
  int64_t n_ = 0;
};

}  // namespace

std::unique_ptr<LayerPruner> make_sparsegpt_pruner(const PrunerOptions& o, int64_t in, const torch::Device& dev) {
  LEAP_CHECK(o.sparsegpt_blocksize > 0, "--blocksize must be positive");
  return std::make_unique<SparseGptPruner>(o, in, dev);
}

}  // namespace leap
