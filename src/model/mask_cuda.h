// mask_cuda.h — the CUDA kernels of LEAP's Gumbel-sigmoid mask (issue "GPU", item 8), torch-free:
// raw device pointers, a cudaStream_t passed as void*. device_mask.cpp is their only caller.
//
// Per masked linear and micro-batch, two passes over its n weights (mask_element.h's math, so the
// noise equals the CPU's for the same seed):
//   sample:   reads θ and W, writes W ⊙ M in the compute dtype, and ΣM, Σ(M·W)² into two float64
//             device values (per-block partials, then one block summing them in a fixed order:
//             the same bits on every run). M itself is not stored.
//   gradient: reads g = dL/d(W⊙M), θ and W, re-derives M from θ and the noise, and writes
//               gθ = (g·W + g_sum + g_w2·M·W²) · (κ/τ) · M(1 − M)
//             in float32 (in place over g when g is float32), or adds it into a float32 gradient
//             (the optimizer's bucket); g_sum and g_w2 are read from device memory (the
//             regulariser's coefficients, computed on the device: no host round trip).
// Traffic per weight (float32 θ, bf16 W, W⊙M and g; adding into the bucket): sample 4 + 2 + 2
// bytes, gradient 2 + 4 + 2 + 4 + 4 = 24 in all (20 with bfloat16 θ).
// Not here: the tensors, the regulariser, autograd (device_mask.h).
#pragma once
#include <cstdint>

namespace leap::cuda_kernel {

enum class Dt : int { f32 = 0, bf16 = 1, f16 = 2 };

// Whether this build compiled the kernels (CMake found nvcc); when false every launcher fails.
bool compiled();

// Scratch the sampler needs: float64 values (two per block of the launch).
int64_t sample_scratch(int64_t n);

// Returns nullptr, or the CUDA error's text.
const char* sample_masked_weight(const void* theta, Dt theta_dt, const void* w, Dt w_dt, void* wm, Dt wm_dt, int64_t n,
                                 float kappa, float tau, uint64_t seed, double* scratch, double* stats, void* stream);
// accumulate: gtheta[i] += gθ_i (gtheta must not alias g); else gtheta[i] = gθ_i (may alias a float32 g).
// kappa, tau, seed: the sample's (M is drawn again); scale: κ/τ rounded from double, as the CPU loop has it.
const char* mask_logit_grad(const void* g, Dt g_dt, const void* theta, Dt theta_dt, const void* w, Dt w_dt,
                            const float* coef, float* gtheta, bool accumulate, int64_t n, float kappa, float tau,
                            float scale, uint64_t seed, void* stream);

}  // namespace leap::cuda_kernel
