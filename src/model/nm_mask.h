// nm_mask.h — learnable N:M masks, MaskLLM's parameterisation (Fang et al. 2024; docs/METHOD.md
// §1.11). Every group of M consecutive weights of a row (along the input dimension) has one logit
// per valid pattern — the C(M,N) binary vectors with N ones (6 for 2:4, 70 for 4:8). Per micro-batch
// a Gumbel-softmax sample over a group's patterns gives their weights, and the soft mask is the
// weighted sum of the patterns:
//   g_k = −log(−log u_k),  p = softmax((κ·θ + g) / τ),  M_group = Σ_k p_k · pattern_k
// Every soft group sums to N, so the density is fixed at N/M (no density penalty is needed); the
// final mask is the argmax pattern of each group, exactly N:M. θ: [out, in/M, C], W: [out, in].
//
// The gradient to θ, from dL/dM as the unstructured mask forms it (mask.h):
//   dL/dp_k = Σ_j dL/dM_j · pattern_kj,   dL/dθ = (κ/τ) · p ⊙ (dL/dp − Σ_k p_k dL/dp_k)
// On the CPU with float32 θ and W both are fused loops (mask_kernel.h) with counter-based noise
// (u of logit i = uniform_at(seed, i)); elsewhere composite LibTorch ops with a generator seeded from
// `seed` (another noise stream). Not here: the unstructured mask (mask.h), the trainer (leap/trainer.h).
#pragma once
#include <torch/torch.h>

namespace leap {

// The C(m, n) patterns as rows of a float32 [C, m] tensor of 0/1, in lexicographic order of their
// kept positions ({0,1}, {0,2}, ... for 2:4). m ≤ 8 (C(8,4) = 70); n in [1, m).
torch::Tensor nm_patterns(int64_t n, int64_t m);

// One linear's sample: M [out, in] (θ's dtype, no autograd history), the pattern weights P
// [out, in/M, C] (kept for backward) and the regulariser statistics ΣM and ‖M ⊙ W‖_F; noise as in
// the head comment.
struct NmSample {
  torch::Tensor M, P;
  double sum = 0, wnorm = 0;
};
NmSample sample_nm_mask(const torch::Tensor& theta, const torch::Tensor& w, const torch::Tensor& patterns, double kappa,
                        double tau, uint64_t seed);

// The Gumbel-softmax relaxation itself from given uniforms u (θ's shape, in (0,1)): P = softmax((κθ
// − log(−log u)) / τ) over the last dimension, in float32 (float64 for float64 θ). Differentiable in θ.
torch::Tensor nm_pattern_weights(const torch::Tensor& theta, const torch::Tensor& u, double kappa, double tau);

// dL/dθ [out, in/M, C] in float32 from g = dL/d(W⊙M) [out, in] (head comment; g_sum and g_w2 as in
// mask.h's mask_logit_grad, scale = κ/τ); `fused` = false: the composite ops, as on other devices.
torch::Tensor nm_logit_grad(const torch::Tensor& g, const torch::Tensor& M, const torch::Tensor& P,
                            const torch::Tensor& w, const torch::Tensor& patterns, double scale, double g_sum,
                            double g_w2, bool fused = true);

// Initial logits [out, in/M, C] from a one-shot N:M keep mask [out, in] (MaskLLM's prior):
//   θ ~ N(0, σ0²),  θ_k += strength · std(θ) · (overlap_k − (N − 1))
// overlap_k = the kept positions pattern k shares with the prior's group (N for the prior's own
// pattern: +1; for 2:4 this is MaskLLM's overlap − 1). Float32, on the prior's device.
torch::Tensor init_nm_logits(const torch::Tensor& prior_keep, const torch::Tensor& patterns, int64_t n, double sigma0,
                             double strength, at::Generator gen);

// The final keep mask [out, in] (bool): each group's argmax pattern (ties: the first pattern).
torch::Tensor nm_keep_mask(const torch::Tensor& theta, const torch::Tensor& patterns);

}  // namespace leap
