// mask_element.h — one element of LEAP's Gumbel-sigmoid mask, shared by the fused CPU loops
// (mask_kernel.cpp) and the CUDA kernels (mask_cuda.cu): the counter-based noise u_i, the sample
//   M_i = σ((κ·θ_i + log u_i − log(1 − u_i)) / τ)
// and the logit gradient gθ_i (mask.h). Because both sides compile these same functions, a CPU and
// a CUDA run of one seed draw the same noise for every element (the values agree to rounding: the
// compilers may contract a·b + c differently). Also the bfloat16 bit conversions of the mask state.
// Not a cryptographic generator; its 24-bit uniforms are what the Gumbel noise needs.
#pragma once
#include <cstdint>

#include "model/fast_math.h"

namespace leap::kernel {

LEAP_HD inline float clampf(float x, float lo, float hi) {
#if defined(__CUDA_ARCH__)
  return fminf(fmaxf(x, lo), hi);
#else
  return std::fmin(std::fmax(x, lo), hi);
#endif
}

LEAP_HD inline uint32_t fmix32(uint32_t h) {  // MurmurHash3 finaliser
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h;
}
// u ∈ [1e-6, 1 − 1e-6] for counter i under the seed halves (s0, s1)
LEAP_HD inline float uniform(uint32_t i, uint32_t s0, uint32_t s1) {
  uint32_t h = fmix32(fmix32(i ^ s0) + s1);
  float u = (float(h >> 8) + 0.5f) * (1.0f / 16777216.0f);
  return clampf(u, 1e-6f, 1.0f - 1e-6f);
}
LEAP_HD inline uint32_t seed_lo(uint64_t s) {
  return uint32_t(s);
}
LEAP_HD inline uint32_t seed_hi(uint64_t s) {
  return uint32_t(s >> 32) ^ 0x9e3779b9U;
}

// M_i = σ(a·θ_i + b·log(u_i / (1 − u_i))), a = κ/τ, b = 1/τ; the exponent clamped to ±80
LEAP_HD inline float mask_value(float theta, uint32_t i, float a, float b, uint32_t s0, uint32_t s1) {
  const float u = uniform(i, s0, s1);
  const float z = clampf(a * theta + b * fast_log(u / (1.0f - u)), -80.f, 80.f);
  return 1.0f / (1.0f + fast_exp(-z));
}

// gθ_i = (g_i·W_i + g_sum + g_w2·M_i·W_i²) · scale · M_i(1 − M_i): dL/dM times dM/dθ (scale = κ/τ)
LEAP_HD inline float logit_grad_value(float g, float m, float w, float g_sum, float g_w2, float scale) {
  const float gm = g * w + g_sum + g_w2 * m * w * w;  // dL/dM
  return gm * scale * m * (1.0f - m);                 // · dM/dθ
}

// bfloat16 as the upper half of a float32; a store rounds to nearest even, as c10::BFloat16 does
// for finite values
LEAP_HD inline float bf16_load(uint16_t h) {
  return bits_float(uint32_t(h) << 16);
}
LEAP_HD inline uint16_t bf16_round(float x) {
  const uint32_t u = float_bits(x);
  return uint16_t((u + 0x7fffU + ((u >> 16) & 1U)) >> 16);
}

}  // namespace leap::kernel
