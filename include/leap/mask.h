// mask.h — LEAP's learnable per-weight mask (arXiv 2605.17289, method.md §1.3–1.5).
//
// Every decoder-linear weight W_ij has a logit θ_ij. Per micro-batch a relaxed Bernoulli
// (Gumbel-sigmoid / binary concrete) sample is drawn:
//   u ~ U(0,1),  M = σ((κ·θ + log u − log(1−u)) / τ)                    (soft, no straight-through)
// and the linear computes y = x (W ⊙ M)ᵀ + b (masked_linear: W ⊙ M is recomputed in backward, so
// no product tensor is kept alive). τ: 4 → 0.05 and κ: 25 → 350, linear in the optimizer step.
// Regularisers over ALL masked linears together (the budget is global):
//   density   d = Σ_l Σ M_l / Σ_l numel(W_l),        penalty λ_s·|d − (1 − s)|
//   weight    R = Σ_l ‖M_l ⊙ W_l‖_F / Σ_l ‖W_l‖_F,  reward  λ_w·(1 − t/T)·R
#pragma once
#include <torch/torch.h>

namespace leap {

// y = x (W ⊙ M)ᵀ + b. x: [..., in], W, M: [out, in] (W frozen), b: [out] or undefined.
// Gradients flow to x and M (and b if it requires grad).
torch::Tensor masked_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& m,
                            const torch::Tensor& b);

// ‖M ⊙ W‖_F as a float32 scalar, computed in float32 (W frozen); keeps no M ⊙ W product for backward.
torch::Tensor masked_weight_norm(const torch::Tensor& m, const torch::Tensor& w);

// M = σ((κθ + log u − log(1−u)) / τ), u ~ U(0,1) clamped to [1e-6, 1−1e-6], drawn with `gen`;
// computed in float32, returned in θ's dtype.
torch::Tensor gumbel_sigmoid(const torch::Tensor& theta, double kappa, double tau, at::Generator gen);

// One linear's mask for one micro-batch with its two regulariser statistics, all differentiable
// w.r.t. θ: M (θ's shape and dtype), ΣM and ‖M ⊙ W‖_F (float32 scalars). On the CPU with float32
// θ and W this is one fused pass (mask_kernel.h) with counter-based noise from `seed`; otherwise
// gumbel_sigmoid + masked_weight_norm with a generator seeded from `seed`.
struct SampledMask {
  torch::Tensor M, sum, wnorm;
};
SampledMask sample_mask(const torch::Tensor& theta, const torch::Tensor& w, double kappa, double tau, uint64_t seed);

// τ_t and κ_t, linear in t/T (clipped to 1).
struct MaskSchedule {
  double tau0 = 4.0, tau1 = 0.05, kappa0 = 25.0, kappa1 = 350.0;
  double tau(int64_t t, int64_t T) const;
  double kappa(int64_t t, int64_t T) const;
};

// Initial logits from a prior keep mask: θ ~ N(0, σ0²), then θ += s·std(θ)·(prior ? +1 : −1).
torch::Tensor init_logits(const torch::Tensor& prior_keep, double sigma0, double strength, at::Generator gen);

}  // namespace leap
