// mask.h — LEAP's learnable per-weight mask (arXiv 2605.17289, docs/METHOD.md §1.1–1.4).
//
// Every decoder-linear weight W_ij has a logit θ_ij. Per micro-batch a relaxed Bernoulli
// (Gumbel-sigmoid / binary concrete) sample is drawn:
//   u ~ U(0,1),  M = σ((κ·θ + log u − log(1−u)) / τ)                    (soft, no straight-through)
// and the linear computes y = x (W ⊙ M)ᵀ + b. τ: 4 → 0.05 and κ: 25 → 350, linear in the step.
// Regularisers over ALL masked linears together (the budget is global):
//   density   d = Σ_l Σ M_l / Σ_l numel(W_l),        penalty λ_s·|d − (1 − s)|
//   weight    R = Σ_l ‖M_l ⊙ W_l‖_F / Σ_l ‖W_l‖_F,  reward  λ_w·(1 − t/T)·R
//
// The gradient to θ is written by hand, in one pass per linear: the sample M carries no autograd
// history; the regulariser is a function of the per-linear scalars ΣM and ‖M⊙W‖ only, so its
// derivatives w.r.t. them (autograd on that small scalar graph, leap_trainer.cpp) are folded into
// the masked linear's backward:
//   dL/dM = dL/d(W⊙M) ⊙ W + ∂L/∂ΣM + (∂L/∂‖M⊙W‖ / ‖M⊙W‖) · M ⊙ W²,   dL/dθ = dL/dM ⊙ (κ/τ)·M ⊙ (1 − M)
// No dL/dM tensor is kept. On the CPU the fused sampler writes W ⊙ M in the same pass as M (the
// linear's forward and backward use it; elsewhere it is formed in each), and one fused loop adds
// dL/dθ from dL/d(W⊙M) straight into the optimizer's float32 gradient (mask_kernel.h).
#pragma once
#include <functional>
#include <torch/torch.h>

namespace leap {

// One linear's sample for one micro-batch: M (θ's shape and dtype, no autograd history) and its
// regulariser statistics ΣM and ‖M ⊙ W‖_F. On the CPU with float32 W and float32 or bfloat16 θ this
// is one fused pass (mask_kernel.h) with counter-based noise from `seed`; otherwise gumbel_sigmoid
// with a generator seeded from `seed`.
// with_product: on the fused path W ⊙ M (W's dtype) is written in the same pass (WM; undefined
// elsewhere), for the masked linear's forward and backward to use instead of forming it twice.
struct MaskSample {
  torch::Tensor M, WM;
  double sum = 0, wnorm = 0;
};
MaskSample sample_mask(const torch::Tensor& theta, const torch::Tensor& w, double kappa, double tau, uint64_t seed,
                       bool with_product = false);

// What a masked linear needs in forward and backward.
struct LinearMask {
  torch::Tensor M;           // [out, in] the sample
  torch::Tensor theta;       // [out, in] the autograd leaf that receives dL/dθ (float32: BucketedAdamW's
                             // gradient leaf), or undefined: forward only
  double scale = 0;          // κ/τ: dM/dθ = scale · M(1 − M)
  double g_sum = 0;          // ∂L/∂ΣM of the regulariser
  double g_w2 = 0;           // ∂L/∂‖M⊙W‖ / ‖M⊙W‖
  torch::Tensor P{};         // learnable N:M (nm_mask.h): the pattern weights [out, in/M, C]; undefined: unstructured
  torch::Tensor patterns{};  // learnable N:M: the patterns [C, M]
  torch::Tensor WM{};        // [out, in] W ⊙ M from the sampler, or undefined: formed from W and M
  // the unstructured mask's gradient added by backward itself:
  torch::Tensor grad{};  // θ's float32 gradient (a bucket view): backward adds dL/dθ into it, and
                         // autograd carries no θ gradient (its accumulation, a pass over it, is skipped)
  const std::function<void()>* grad_ready = nullptr;  // called after that addition (the data-parallel
                                                      // reduction's readiness), or null
  // the device-resident path (device_mask.h; M undefined, WM in the compute dtype):
  torch::Tensor logits{};  // [out, in] the θ values the sample was drawn from (backward re-derives M)
  torch::Tensor coef{};    // [2] float32 on θ's device: g_sum, g_w2
  double kappa = 0, tau = 0;
  uint64_t seed = 0;
  bool defined() const { return M.defined() || WM.defined(); }
};

// y = x (W ⊙ M)ᵀ + b. x: [..., in], W: [out, in] (frozen), b: [out] or undefined. Gradients flow to
// x, b (if it requires grad) and m.theta (if defined), the latter as in the head comment (or, for an
// N:M mask with m.P, as in nm_mask.h; for the device-resident path with m.logits, as in
// device_mask.h); with m.grad the unstructured dL/dθ is added there (LinearMask).
torch::Tensor masked_linear(const torch::Tensor& x, const torch::Tensor& w, const LinearMask& m,
                            const torch::Tensor& b);

// The composite samplers' noise source: a fresh CPU generator seeded with `seed`, or the device's
// default generator reseeded with it.
at::Generator seeded_generator(const torch::Device& device, uint64_t seed);

// A CPU tensor from this thread's pool of per-micro-batch buffers (contents undefined): it is
// handed out again once the pool holds its only reference.
torch::Tensor pooled_cpu_buffer(at::IntArrayRef sizes, at::ScalarType dt);

// The CPU buffers the masks and masked linears of this thread reuse across micro-batches (M,
// W ⊙ M, dL/d(W⊙M)) are given back; the trainer calls it when training ends.
void release_mask_buffers();

// dL/dθ from g = dL/d(W⊙M) [out, in] (head comment), in float32 whatever M's dtype (float64 for
// float64 M): the optimizer accumulates it in float32. CPU float32 W and g: the fused loop, in place
// over g (`fused` = false: the composite ops, as on other devices). With `into` (float32, M's
// shape) it is added there instead and `into` returned.
torch::Tensor mask_logit_grad(torch::Tensor g, const torch::Tensor& M, const torch::Tensor& w, double scale,
                              double g_sum, double g_w2, bool fused = true, const torch::Tensor& into = {});

// M = σ((κθ + log u − log(1−u)) / τ), u ~ U(0,1) clamped to [1e-6, 1−1e-6], drawn with `gen`;
// computed in float32, returned in θ's dtype.
torch::Tensor gumbel_sigmoid(const torch::Tensor& theta, double kappa, double tau, at::Generator gen);

// τ_t and κ_t, linear in t/T (clipped to 1).
struct MaskSchedule {
  double tau0 = 4.0, tau1 = 0.05, kappa0 = 25.0, kappa1 = 350.0;
  double tau(int64_t t, int64_t T) const;
  double kappa(int64_t t, int64_t T) const;
};

// Initial logits from a prior keep mask: θ ~ N(0, σ0²), then θ += s·std(θ)·(prior ? +1 : −1).
torch::Tensor init_logits(const torch::Tensor& prior_keep, double sigma0, double strength, at::Generator gen);

}  // namespace leap
