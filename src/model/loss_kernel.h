// loss_kernel.h — the fused CPU loop behind the LM head's cross-entropy (lm_loss.cpp): one pass
// over a chunk's float32 logits gives each row's log-sum-exp and −log p(target) and, when asked,
// overwrites the logits with the gradient, row by row while the row is in cache. Replaces
// logsumexp, gather, sub, exp, scatter and div: six passes over [rows, V] and two temporaries of
// that size. Built with -O3 -ffast-math and an AVX2 + FMA clone (fast_math.h's exp). Torch-free:
// the caller splits rows over LibTorch's threads and checks the targets.
#pragma once
#include <cstdint>

namespace leap::kernel {

// For rows r in [r0, r1) of z ([rows, V], row-major, finite), target t_r = targets[r] in [0, V):
//   lse_r = max_j z_rj + log Σ_j exp(z_rj − max_j z_rj)
//   returns Σ_r (lse_r − z[r, t_r])                         (the rows' −log p(target), summed)
// With grad_scale > 0 the rows are overwritten with ∂CE/∂z = (softmax(z_r) − onehot(t_r)) · grad_scale.
double softmax_xent_rows(float* z, const int64_t* targets, int64_t r0, int64_t r1, int64_t V, float grad_scale);

}  // namespace leap::kernel
