// admm.cpp — ADMM pruning with weight update (Boža 2024, "Fast and Effective Weight Update for
// Pruned LLMs"), following the reference lib/admm.py.
//
// Minimise ‖X Wᵀ − X (M ⊙ Ŵ)ᵀ‖² over Ŵ and a mask M at sparsity s, as min f(V) + g(Z) s.t. V = Z:
//   G = Σ x xᵀ (float32, not averaged); D = diag(sqrt(diag G)) + 1e-8; Ĝ = D⁻¹ G D⁻¹;
//   V = D Wᵀ  (so |V_jr| = |W_rj|·‖X_j‖, Wanda's score); Ĝ += λI with λ = percdamp·mean(diag Ĝ);
//   B = Ĝ V; A⁻¹ = (Ĝ + ρI)⁻¹, ρ = 1; U = 0. For k = 0..iters−1:
//     k < iterative_prune: M = top-(1−s) of |V + U| over the whole matrix (published code), or with
//       --admm_gradual the paper's s_k = s·(1 − (1 − (k+1)/K)³), K = iterative_prune, per output
//     Z = (V + U) ⊙ M;  U ← U + V − Z;  V ← A⁻¹ (B + ρ (Z − U))
//   Ŵ = ((V + U) ⊙ M)ᵀ D⁻¹.
// N:M: the N largest |V + U| of every M inputs are always kept and, as in the reference, the
// other weights are released gradually (s_k) so that from k = K−1 on only the N:M mask remains.
// See docs/METHOD.md §2.6.
#include "base/error.h"
#include "prune/pruner.h"

namespace leap {
namespace {

class AdmmPruner : public LayerPruner {
 public:
  AdmmPruner(const PrunerOptions& o, int64_t in, const torch::Device& dev)
      : o_(o), XX_(torch::zeros({in, in}, torch::TensorOptions().dtype(torch::kFloat32).device(dev))) {}

  void add_batch(const torch::Tensor& x) override {
    torch::NoGradGuard ng;
    torch::Tensor X = x.reshape({-1, x.size(-1)}).to(torch::kFloat32);
    XX_.addmm_(X.t(), X);  // G += Xᵀ X
  }
  bool shares_statistics() const override { return true; }
  void copy_statistics_from(const LayerPruner& first) override {
    XX_ = dynamic_cast<const AdmmPruner&>(first).XX_.clone();
  }

  // Keep mask for V [in, out] at sparsity s (groups per the pattern / flags).
  torch::Tensor select(const torch::Tensor& V, double s, const SparsityPattern& p, int64_t k) const {
    torch::Tensor a = V.abs();
    const int64_t K = o_.admm_iterative_prune;
    if (!p.unstructured()) {
      // the N:M survivors are always kept; on top, the gradual schedule keeps the largest others
      torch::Tensor nm = keep_mask_nm(a.t(), p).t();  // groups along the input dimension
      double sk = s - s * std::pow(1.0 - double(std::min(k + 1, K)) / double(K), 3);
      // never release more than the N:M mask prunes (a trailing partial group keeps more)
      double nm_sparsity = double(nm.numel() - nm.sum().item<int64_t>()) / double(nm.numel());
      return keep_mask_global(a.masked_fill(nm, std::numeric_limits<float>::infinity()), std::min(sk, nm_sparsity));
    }
    if (o_.admm_gradual) {
      double sk = s - s * std::pow(1.0 - double(k + 1) / double(K), 3);  // cubic schedule
      return keep_mask_per_row(a.t(), sk).t();                           // per output (per_out=True)
    }
    return keep_mask_global(a, s);
  }

  torch::Tensor prune(torch::Tensor& Wt, double s, const SparsityPattern& p) override {
    return solve(Wt, s, p, torch::Tensor());
  }
  void reconstruct(torch::Tensor& Wt, const torch::Tensor& keep) override { solve(Wt, 0.0, SparsityPattern(), keep); }

 private:
  // The ADMM iterations: the mask re-selected for the first iterative_prune ones (prune), or
  // `fixed`'s throughout (reconstruct).
  torch::Tensor solve(torch::Tensor& Wt, double s, const SparsityPattern& p, const torch::Tensor& fixed) {
    torch::NoGradGuard ng;
    torch::Tensor XX = XX_;
    XX_ = torch::Tensor();
    torch::Tensor norm = XX.diag().sqrt() + 1e-8;                            // D
    XX = XX / norm / norm.reshape({-1, 1});                                  // Ĝ = D⁻¹ G D⁻¹
    torch::Tensor V = (Wt.to(torch::kFloat32) * norm).t().contiguous();      // V = D Wᵀ  [in, out]
    XX.diagonal().add_(o_.admm_percdamp * XX.diag().mean().item<double>());  // Ĝ += λ I
    const double rho = o_.admm_rho;
    torch::Tensor B = XX.matmul(V);  // B = Ĝ V
    XX.diagonal().add_(rho);
    torch::Tensor Ainv = torch::linalg_inv(XX);  // (Ĝ + ρ I)⁻¹
    XX = torch::Tensor();
    torch::Tensor U = torch::zeros_like(V);
    torch::Tensor mask = fixed.defined() ? fixed.t().contiguous() : select(V, s, p, 0);  // [in, out]
    torch::Tensor Z;
    for (int64_t k = 0; k < o_.admm_iters; ++k) {
      if (!fixed.defined() && k < o_.admm_iterative_prune) mask = select(V + U, s, p, k);
      Z = (V + U) * mask;                  // projection onto the sparse set
      U = U + (V - Z);                     // scaled dual update
      V = Ainv.matmul(B + rho * (Z - U));  // exact ridge solve of the V-step
    }
    Z = (V + U) * mask;
    torch::Tensor out = (Z.t() / norm).contiguous();  // Ŵ = Zᵀ D⁻¹  [out, in]
    torch::Tensor keep = mask.t().contiguous();
    out.mul_(keep.to(out.scalar_type()));
    Wt.copy_(out.to(Wt.scalar_type()));
    return keep;
  }

  PrunerOptions o_;
  torch::Tensor XX_;
};

}  // namespace

std::unique_ptr<LayerPruner> make_admm_pruner(const PrunerOptions& o, int64_t in, const torch::Device& dev) {
  LEAP_CHECK(o.admm_iters >= 1, "--admm_iters must be at least 1");
  LEAP_CHECK(o.admm_iterative_prune >= 1, "--admm_iterative_prune must be at least 1");
  // past --admm_iters the mask would never be fixed (and --admm_gradual never reach the sparsity)
  LEAP_CHECK(o.admm_iterative_prune <= o.admm_iters,
             "--admm_iterative_prune (%lld) must not exceed --admm_iters (%lld)", (long long)o.admm_iterative_prune,
             (long long)o.admm_iters);
  return std::make_unique<AdmmPruner>(o, in, dev);
}

}  // namespace leap
