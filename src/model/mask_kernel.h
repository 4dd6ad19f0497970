// mask_kernel.h — fused CPU loops for LEAP's Gumbel-sigmoid masks, mask state in float32 or
// bfloat16 (raw uint16 bits, rounded to nearest even), weights and gradients in float32. Compiled
// with -O3 -ffast-math and an AVX2 + FMA clone; log and exp are inline polynomials, so the loops
// vectorise. Torch-free: the caller (mask.cpp) splits the index range over LibTorch's threads.
//
// Noise is counter-based: u_i is a hash of (seed, i), so any thread — and any rank — draws the
// same noise for element i without a shared generator state. Not a cryptographic generator; its
// 24-bit uniforms are what the Gumbel noise needs.
#pragma once
#include <cstdint>

namespace leap::kernel {

struct MaskSums {
  double m = 0;    // Σ M
  double mw2 = 0;  // Σ (M·W)²
};

// u_i ∈ [1e-6, 1 − 1e-6]: the uniform behind element i of the mask drawn with `seed`.
float uniform_at(uint64_t seed, int64_t i);

// For i in [begin, end): M[i] = σ((κ·θ[i] + log u_i − log(1 − u_i)) / τ); returns ΣM and Σ(M·W)²
// of the stored (rounded, for bfloat16) M. wm: null, or W ⊙ M (of the stored M) is written there too.
MaskSums sample_mask(const float* theta, const float* w, float* m, float* wm, int64_t begin, int64_t end, float kappa,
                     float tau, uint64_t seed);
MaskSums sample_mask(const uint16_t* theta_bf16, const float* w, uint16_t* m_bf16, float* wm, int64_t begin,
                     int64_t end, float kappa, float tau, uint64_t seed);

// The mask logits' gradient from the masked weight's (a masked linear's backward):
//   gθ[i] = (g[i]·W[i] + g_sum + g_w2·M[i]·W[i]²) · scale · M[i](1 − M[i])      (scale = κ/τ)
// g = dL/d(W⊙M); g_sum, g_w2: the regulariser's dL/dΣM and dL/d‖M⊙W‖ / ‖M⊙W‖. gθ is float32
// whatever M's dtype (it is accumulated in float32) and may alias g. add: gθ[i] += ... instead (gθ,
// the optimizer's gradient bucket, must not alias g).
void mask_logit_grad(const float* g, const float* m, const float* w, float* gtheta, int64_t begin, int64_t end,
                     float g_sum, float g_w2, float scale, bool add = false);
void mask_logit_grad(const float* g, const uint16_t* m_bf16, const float* w, float* gtheta, int64_t begin, int64_t end,
                     float g_sum, float g_w2, float scale, bool add = false);

// Learnable N:M masks (nm_mask.h), float32, groups [g0, g1) of one linear: θ [groups, C] and P
// [groups, C] (the pattern weights), W and M [groups, Mw] (a row's groups are consecutive, so these
// are the flattened [out, in/Mw, C] and [out, in] tensors). bits[k]: pattern k's kept positions,
// bit j for position j. Noise: u for logit i of the linear is uniform_at(seed, i).
//   sample:   p = softmax((κθ − log(−log u)) / τ),  M_j = Σ_k p_k [j ∈ k];  returns ΣM, Σ(M·W)²
//   gradient: gm_j = g_j·W_j + g_sum + g_w2·M_j·W_j²,  gp_k = Σ_{j∈k} gm_j,
//             gθ_k = scale · p_k · (gp_k − Σ_l p_l gp_l)
MaskSums sample_nm(const float* theta, const float* w, float* p, float* m, int64_t g0, int64_t g1, int64_t C,
                   int64_t Mw, const uint8_t* bits, float kappa, float tau, uint64_t seed);
void nm_logit_grad(const float* g, const float* m, const float* p, const float* w, float* gtheta, int64_t g0,
                   int64_t g1, int64_t C, int64_t Mw, const uint8_t* bits, float g_sum, float g_w2, float scale);

}  // namespace leap::kernel
