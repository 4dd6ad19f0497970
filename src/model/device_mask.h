// device_mask.h — LEAP's unstructured mask kept on its device for a whole step (issue "GPU", item 8).
// Per micro-batch and masked linear:
//   sample:   W ⊙ M in the compute dtype and the statistics ΣM, Σ(M·W)² as a device tensor; M itself
//             is not kept (mask.h's head comment for the sample and the regulariser)
//   forward:  y = x (W ⊙ M)ᵀ from that product, kept for backward's dL/dx = dy (W ⊙ M)
//   backward: dL/dθ from dL/d(W⊙M) = dyᵀ x, M re-derived from θ and the noise, the regulariser's
//             coefficients (g_sum, g_w2) read from a device tensor
// so no value crosses to the host until the step ends (the trainer reads the step's sums once). On
// CUDA two fused kernels per linear (mask_cuda.h); on the CPU the CPU's fused loops (mask_kernel.h,
// the same element functions) — the path the CUDA run takes, testable here; the CPU trainer itself
// keeps mask.h's path (M kept, statistics on the host), whose values this one equals.
// The noise is mask_element.h's counter-based stream: a CPU and a CUDA run of one seed draw the same u.
// Not here: learnable N:M masks (nm_mask.h: composite ops on CUDA), the regulariser (leap/trainer.cpp).
#pragma once
#include <torch/torch.h>

#include "model/mask.h"

namespace leap {

// Whether θ on `device` can take this path: the CPU always; CUDA when this build compiled the kernels.
bool device_masks_available(const torch::Device& device);

// One linear's sample. θ: [out, in] float32 or bfloat16; W: [out, in] float32, bfloat16 or float16;
// compute: the dtype of the product (the linear's matmul dtype).
struct DeviceMaskSample {
  torch::Tensor WM;     // [out, in] W ⊙ M in `compute`
  torch::Tensor stats;  // [2] float64 on θ's device: ΣM, Σ(M·W)²
};
DeviceMaskSample sample_device_mask(const torch::Tensor& theta, const torch::Tensor& w, torch::ScalarType compute,
                                    double kappa, double tau, uint64_t seed);

// dL/dθ [out, in] in float32 from g = dL/d(W⊙M) [out, in] (float32: in place over g), θ and W as
// sampled, coef: [2] float32 on the device (g_sum, g_w2 as in mask.h's mask_logit_grad). With
// `into` (a float32 [out, in] gradient, e.g. the optimizer's bucket view) it is added there and
// `into` is returned.
torch::Tensor device_mask_logit_grad(torch::Tensor g, const torch::Tensor& theta, const torch::Tensor& w,
                                     const torch::Tensor& coef, double kappa, double tau, uint64_t seed,
                                     const torch::Tensor& into = {});

// y = x (W ⊙ M)ᵀ for a LinearMask of this path (m.WM defined); gradients to x and, when m.theta is
// defined, dL/dθ: returned to m.theta (the float32 gradient leaf), or, when m.grad is defined, added
// into m.grad by the gradient kernel itself (autograd's accumulation, a third pass over the
// gradient, is skipped) and m.grad_ready called. No bias (masked_linear adds it).
torch::Tensor device_masked_linear(const torch::Tensor& x, const torch::Tensor& w, const LinearMask& m);

}  // namespace leap
