// device_mask.cpp — see device_mask.h.
#include "model/device_mask.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "base/error.h"
#include "model/mask_cuda.h"
#include "model/mask_kernel.h"

#ifdef LEAP_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace leap {
using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

namespace {

constexpr int64_t kBlock = 1 << 14;  // the host side: blocks of the fused sampler, their sums added in order (mask.cpp)

// ---- the host side: the CPU's fused loops (mask_kernel.h), which compute what the kernels compute ----
// (the same element functions, mask_element.h), so on the CPU this path equals the host path

// M (θ's dtype: float32, or bfloat16 rounded as stored) and, when wm is given, W ⊙ M in float32;
// returns ΣM and Σ(M·W)², summed per block of the fused loop's in block order
kernel::MaskSums host_fused_sample(const Tensor& theta, const Tensor& wf, Tensor& M, float* wm, double kappa,
                                   double tau, uint64_t seed) {
  const Tensor th = theta.detach().contiguous();
  M = torch::empty(th.sizes(), th.options());
  const bool bf16 = th.scalar_type() == torch::kBFloat16;
  const float* wp = wf.data_ptr<float>();
  const int64_t n = th.numel(), nblocks = (n + kBlock - 1) / kBlock;
  std::vector<kernel::MaskSums> sums(static_cast<size_t>(nblocks));
  at::parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bl = b0; bl < b1; ++bl) {
      const int64_t lo = bl * kBlock, hi = std::min(n, (bl + 1) * kBlock);
      sums[size_t(bl)] = bf16 ? kernel::sample_mask(reinterpret_cast<const uint16_t*>(th.data_ptr<at::BFloat16>()), wp,
                                                    reinterpret_cast<uint16_t*>(M.data_ptr<at::BFloat16>()), wm, lo, hi,
                                                    float(kappa), float(tau), seed)
                              : kernel::sample_mask(th.data_ptr<float>(), wp, M.data_ptr<float>(), wm, lo, hi,
                                                    float(kappa), float(tau), seed);
    }
  });
  kernel::MaskSums total;
  for (const auto& x : sums) total.m += x.m, total.mw2 += x.mw2;
  return total;
}

void check_host_theta(const Tensor& theta) {
  LEAP_CHECK(theta.scalar_type() == torch::kFloat32 || theta.scalar_type() == torch::kBFloat16,
             "device mask: logits of dtype %s (float32 or bfloat16 expected)", c10::toString(theta.scalar_type()));
}

DeviceMaskSample host_sample(const Tensor& theta, const Tensor& w, torch::ScalarType compute, double kappa, double tau,
                             uint64_t seed) {
  check_host_theta(theta);
  const Tensor wf = w.detach().to(torch::kFloat32).contiguous();
  Tensor M, WM = torch::empty(wf.sizes(), wf.options());
  const kernel::MaskSums s = host_fused_sample(theta, wf, M, WM.data_ptr<float>(), kappa, tau, seed);
  return {WM.to(compute), torch::tensor({s.m, s.mw2}, torch::kFloat64)};
}

Tensor host_logit_grad(Tensor g, const Tensor& theta, const Tensor& w, const Tensor& coef, double kappa, double tau,
                       uint64_t seed, const Tensor& into) {
  check_host_theta(theta);
  const Tensor wf = w.detach().to(torch::kFloat32).contiguous();
  Tensor M;  // the forward's M, drawn again
  host_fused_sample(theta, wf, M, nullptr, kappa, tau, seed);
  g = g.to(torch::kFloat32).contiguous();
  Tensor c = coef.to(torch::kCPU, torch::kFloat32);
  const float g_sum = c[0].item<float>(), g_w2 = c[1].item<float>(), scale = float(kappa / tau);
  const bool add = into.defined(), bf16 = M.scalar_type() == torch::kBFloat16;
  float* out = add ? into.data_ptr<float>() : g.data_ptr<float>();
  const float *gp = g.data_ptr<float>(), *wp = wf.data_ptr<float>();
  at::parallel_for(0, g.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    if (bf16)
      kernel::mask_logit_grad(gp, reinterpret_cast<const uint16_t*>(M.data_ptr<at::BFloat16>()), wp, out, b, e, g_sum,
                              g_w2, scale, add);
    else
      kernel::mask_logit_grad(gp, M.data_ptr<float>(), wp, out, b, e, g_sum, g_w2, scale, add);
  });
  return add ? into : g;
}

// ---- CUDA: the fused kernels (mask_cuda.h) -----------------------------------------------------------
#ifdef LEAP_WITH_CUDA_KERNELS
cuda_kernel::Dt kernel_dtype(const Tensor& t, const char* what) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return cuda_kernel::Dt::f32;
    case torch::kBFloat16:
      return cuda_kernel::Dt::bf16;
    case torch::kFloat16:
      return cuda_kernel::Dt::f16;
    default:
      fail("CUDA mask kernels: %s has dtype %s (float32, bfloat16 or float16 expected)", what,
           c10::toString(t.scalar_type()));
  }
}

void check_launch(const char* err, const char* what) {
  if (err) fail("CUDA mask kernel (%s): %s", what, err);
}

DeviceMaskSample cuda_sample(const Tensor& theta, const Tensor& w, torch::ScalarType compute, double kappa, double tau,
                             uint64_t seed) {
  const c10::cuda::CUDAGuard guard(theta.device());
  Tensor th = theta.detach().contiguous(), wc = w.detach().contiguous();
  const auto opt = th.options();
  Tensor WM = torch::empty(wc.sizes(), opt.dtype(compute));
  Tensor stats = torch::empty({2}, opt.dtype(torch::kFloat64));
  Tensor scratch = torch::empty({cuda_kernel::sample_scratch(th.numel())}, opt.dtype(torch::kFloat64));
  check_launch(cuda_kernel::sample_masked_weight(
                   th.data_ptr(), kernel_dtype(th, "theta"), wc.data_ptr(), kernel_dtype(wc, "the weight"),
                   WM.data_ptr(), kernel_dtype(WM, "the compute dtype"), th.numel(), float(kappa), float(tau), seed,
                   scratch.data_ptr<double>(), stats.data_ptr<double>(), c10::cuda::getCurrentCUDAStream().stream()),
               "sample");
  return {WM, stats};
}

Tensor cuda_logit_grad(Tensor g, const Tensor& theta, const Tensor& w, const Tensor& coef, double kappa, double tau,
                       uint64_t seed, const Tensor& into) {
  const c10::cuda::CUDAGuard guard(theta.device());
  g = g.contiguous();
  Tensor th = theta.detach().contiguous(), wc = w.detach().contiguous();
  Tensor c = coef.to(torch::kFloat32).contiguous();
  const bool add = into.defined();
  Tensor out =
      add ? into
          : (g.scalar_type() == torch::kFloat32 ? g : torch::empty(g.sizes(), g.options().dtype(torch::kFloat32)));
  check_launch(
      cuda_kernel::mask_logit_grad(g.data_ptr(), kernel_dtype(g, "the output gradient"), th.data_ptr(),
                                   kernel_dtype(th, "theta"), wc.data_ptr(), kernel_dtype(wc, "the weight"),
                                   c.data_ptr<float>(), out.data_ptr<float>(), add, th.numel(), float(kappa),
                                   float(tau), float(kappa / tau), seed, c10::cuda::getCurrentCUDAStream().stream()),
      "gradient");
  return out;
}
#endif

void check_operands(const Tensor& theta, const Tensor& w) {
  LEAP_CHECK(theta.sizes() == w.sizes(), "device mask: logits %s do not match the weight %s",
             shape_str(theta.sizes().vec()).c_str(), shape_str(w.sizes().vec()).c_str());
  LEAP_CHECK(theta.device() == w.device(), "device mask: logits and weight on different devices");
  LEAP_CHECK(device_masks_available(theta.device()),
             "device mask: this build has no CUDA mask kernels (nvcc was not "
             "found when it was configured)");
}

// y = x (W ⊙ M)ᵀ from the sampled product; backward as in the head comment. Saves x (compute
// dtype), W, W ⊙ M, θ and the coefficients, all alive anyway; dL/dθ is returned, or added into the
// gradient the mask names (and its readiness callback called).
class DeviceMaskedLinearFn : public torch::autograd::Function<DeviceMaskedLinearFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& theta_leaf, const Tensor& w,
                        const Tensor& wm, const Tensor& logits, const Tensor& coef, double kappa, double tau,
                        int64_t seed, const std::optional<Tensor>& grad, int64_t grad_ready) {
    (void)theta_leaf;  // an input for autograd only: dL/dθ goes to it (or, with `grad`, into that)
    // the gradient to add into, not a saved variable: the optimizer zeroes it between steps
    ctx->saved_data["grad"] = grad.value_or(Tensor());
    ctx->saved_data["grad_ready"] = grad_ready;
    ctx->saved_data["kappa"] = kappa;
    ctx->saved_data["tau"] = tau;
    ctx->saved_data["seed"] = seed;
    const auto dev = x.device().type();  // under autocast: its dtype, recorded for backward (mask.cpp)
    const auto cdt = at::autocast::is_autocast_enabled(dev) ? at::autocast::get_autocast_dtype(dev) : x.scalar_type();
    const Tensor xc = x.to(cdt), wmc = wm.to(cdt);
    ctx->saved_data["compute_dtype"] = int64_t(cdt);
    ctx->save_for_backward({xc, w, wmc, logits, coef});
    return torch::matmul(xc, wmc.t());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w = saved[1], &wm = saved[2], &logits = saved[3], &coef = saved[4];
    const auto cdt = c10::ScalarType(ctx->saved_data["compute_dtype"].toInt());
    const Tensor gy = grads[0].to(cdt);  // [..., out]
    Tensor gx, gtheta;
    if (ctx->needs_input_grad(0)) gx = gy.matmul(wm);  // dL/dx = dy (W⊙M)
    if (ctx->needs_input_grad(1)) {
      Tensor gwm = gy.reshape({-1, gy.size(-1)}).t().matmul(x.reshape({-1, x.size(-1)}));  // dL/d(W⊙M) = dyᵀ x
      const Tensor into = ctx->saved_data["grad"].toTensor();
      gtheta =
          device_mask_logit_grad(gwm, logits, w, coef, ctx->saved_data["kappa"].toDouble(),
                                 ctx->saved_data["tau"].toDouble(), uint64_t(ctx->saved_data["seed"].toInt()), into);
      if (into.defined()) {  // added already: autograd carries nothing to the leaf
        gtheta = Tensor();
        if (auto* ready = reinterpret_cast<const std::function<void()>*>(ctx->saved_data["grad_ready"].toInt()))
          (*ready)();
      }
    }
    return {gx, gtheta, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

bool device_masks_available(const torch::Device& device) {
  if (device.is_cpu()) return true;
#ifdef LEAP_WITH_CUDA_KERNELS
  return device.is_cuda() && cuda_kernel::compiled();
#else
  return false;
#endif
}

DeviceMaskSample sample_device_mask(const Tensor& theta, const Tensor& w, torch::ScalarType compute, double kappa,
                                    double tau, uint64_t seed) {
  torch::NoGradGuard ng;
  check_operands(theta, w);
#ifdef LEAP_WITH_CUDA_KERNELS
  if (theta.is_cuda()) return cuda_sample(theta, w, compute, kappa, tau, seed);
#endif
  return host_sample(theta, w, compute, kappa, tau, seed);
}

Tensor device_mask_logit_grad(Tensor g, const Tensor& theta, const Tensor& w, const Tensor& coef, double kappa,
                              double tau, uint64_t seed, const Tensor& into) {
  torch::NoGradGuard ng;
  check_operands(theta, w);
  LEAP_CHECK(g.sizes() == w.sizes() && coef.numel() == 2,
             "device mask gradient: g %s for a weight %s, %lld coefficients", shape_str(g.sizes().vec()).c_str(),
             shape_str(w.sizes().vec()).c_str(), (long long)coef.numel());
  LEAP_CHECK(!into.defined() || (into.sizes() == w.sizes() && into.scalar_type() == torch::kFloat32 &&
                                 into.is_contiguous() && into.device() == w.device()),
             "device mask gradient: the gradient to add into must be a contiguous float32 %s on the weight's device",
             shape_str(w.sizes().vec()).c_str());
#ifdef LEAP_WITH_CUDA_KERNELS
  if (theta.is_cuda()) return cuda_logit_grad(std::move(g), theta, w, coef, kappa, tau, seed, into);
#endif
  return host_logit_grad(std::move(g), theta, w, coef, kappa, tau, seed, into);
}

Tensor device_masked_linear(const Tensor& x, const Tensor& w, const LinearMask& m) {
  if (!m.theta.defined()) return torch::matmul(x, m.WM.to(x.scalar_type()).t());  // forward only
  return DeviceMaskedLinearFn::apply(x, m.theta, w, m.WM, m.logits, m.coef, m.kappa, m.tau, int64_t(m.seed),
                                     m.grad.defined() ? std::optional<Tensor>(m.grad) : std::nullopt,
                                     reinterpret_cast<int64_t>(m.grad_ready));
}

}  // namespace leap
