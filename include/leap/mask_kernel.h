// mask_kernel.h — fused CPU loops for LEAP's Gumbel-sigmoid masks (float32), compiled with
// -O3 -ffast-math and an AVX2 clone so the log/exp vectorise (glibc's libmvec). Torch-free: the
// caller (mask.cpp) splits the index range over LibTorch's threads.
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

// For i in [begin, end): M[i] = σ((κ·θ[i] + log u_i − log(1 − u_i)) / τ); returns ΣM and Σ(M·W)².
MaskSums sample_mask(const float* theta, const float* w, float* m, int64_t begin, int64_t end, float kappa, float tau,
                     uint64_t seed);

// gθ[i] = (gM[i] + g_sum + g_w2·M[i]·W[i]²) · scale · M[i](1 − M[i])      (scale = κ/τ; gm may be null)
void mask_backward(const float* gm, const float* m, const float* w, float* gtheta, int64_t begin, int64_t end,
                   float g_sum, float g_w2, float scale);

}  // namespace leap::kernel
