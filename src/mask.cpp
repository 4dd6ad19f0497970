// mask.cpp — see mask.h.
#include "leap/mask.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>


#include "leap/mask_kernel.h"

namespace leap {
using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

namespace {

class MaskedLinearFn : public torch::autograd::Function<MaskedLinearFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& w, const Tensor& m) {
    ctx->save_for_backward({x, w, m});
    Tensor wm = w * m.to(w.scalar_type());  // W ⊙ M, freed after the product
    return torch::matmul(x, wm.t());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w = saved[1], &m = saved[2];
    const Tensor& gy = grads[0];  // [..., out]
    Tensor wm = w * m.to(w.scalar_type());
    Tensor gx = gy.matmul(wm);                                       // dL/dx = dy (W⊙M)
    Tensor gy2 = gy.reshape({-1, gy.size(-1)});
    Tensor x2 = x.reshape({-1, x.size(-1)});
    Tensor gwm = gy2.t().matmul(x2);                                 // dL/d(W⊙M) = dyᵀ x   [out, in]
    Tensor gm = gwm.mul_(w).to(m.scalar_type());                     // dL/dM = dL/d(W⊙M) ⊙ W (in place)
    return {gx, Tensor(), gm};
  }
};

// r = ‖M ⊙ W‖_F. Saves M and W (both alive anyway for the masked linears), not the product:
// dr/dM = M ⊙ W² / r.
class MaskedWeightNormFn : public torch::autograd::Function<MaskedWeightNormFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& m, const Tensor& w) {
    Tensor r;
    {
      torch::NoGradGuard ng;
      r = (m.to(torch::kFloat32) * w.to(torch::kFloat32)).norm();
    }
    ctx->save_for_backward({m, w, r});
    return r;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor &m = saved[0], &w = saved[1], &r = saved[2];
    Tensor wf = w.to(torch::kFloat32);
    Tensor gm = (grads[0] * m.to(torch::kFloat32) * wf * wf / r.clamp_min(1e-30)).to(m.scalar_type());
    return {gm, Tensor()};
  }
};

// The fused CPU path of sample_mask: outputs M [out, in] and stats [2] = (ΣM, ‖M⊙W‖); one pass
// forward, one pass backward, nothing saved but M, W and the stats.
class SampledMaskFn : public torch::autograd::Function<SampledMaskFn> {
 public:
  static tensor_list forward(AutogradContext* ctx, const Tensor& theta, const Tensor& w, double kappa, double tau,
                             int64_t seed) {
    Tensor th = theta.contiguous(), wc = w.contiguous();
    Tensor M = torch::empty_like(th);
    const float* tp = th.data_ptr<float>();
    const float* wp = wc.data_ptr<float>();
    float* mp = M.data_ptr<float>();
    // per-block sums added in block order: the same bits for any thread count or schedule
    constexpr int64_t kBlock = 1 << 14;
    const int64_t n = th.numel(), nblocks = (n + kBlock - 1) / kBlock;
    std::vector<kernel::MaskSums> sums(static_cast<size_t>(nblocks));
    at::parallel_for(0, nblocks, 4, [&](int64_t b0, int64_t b1) {
      for (int64_t bl = b0; bl < b1; ++bl)
        sums[size_t(bl)] = kernel::sample_mask(tp, wp, mp, bl * kBlock, std::min(n, (bl + 1) * kBlock), float(kappa),
                                               float(tau), uint64_t(seed));
    });
    double sm = 0, sw = 0;
    for (const auto& x : sums) sm += x.m, sw += x.mw2;
    Tensor stats = torch::tensor({sm, std::sqrt(sw)}, torch::kFloat32);
    ctx->save_for_backward({M, wc, stats});
    ctx->saved_data["scale"] = kappa / tau;
    return {M, stats};
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor &M = saved[0], &w = saved[1], &stats = saved[2];
    Tensor gM = grads[0].defined() ? grads[0].contiguous() : Tensor();
    float g_sum = 0, g_w2 = 0;
    if (grads[1].defined()) {
      Tensor gs = grads[1].to(torch::kFloat32);
      const double r = stats[1].item<double>();
      g_sum = gs[0].item<float>();
      g_w2 = r > 0 ? float(gs[1].item<double>() / r) : 0.f;  // ∂‖M⊙W‖/∂M = M W² / ‖M⊙W‖
    }
    Tensor gt = torch::empty_like(M);
    const float* gmp = gM.defined() ? gM.data_ptr<float>() : nullptr;
    const float *mp = M.data_ptr<float>(), *wp = w.data_ptr<float>();
    float* gp = gt.data_ptr<float>();
    const float scale = float(ctx->saved_data["scale"].toDouble());
    at::parallel_for(0, M.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      kernel::mask_backward(gmp, mp, wp, gp, b, e, g_sum, g_w2, scale);  // dM/dθ = (κ/τ) M (1 − M)
    });
    return {gt, Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

SampledMask sample_mask(const Tensor& theta, const Tensor& w, double kappa, double tau, uint64_t seed) {
  if (theta.is_cpu() && theta.scalar_type() == torch::kFloat32 && w.scalar_type() == torch::kFloat32) {
    auto out = SampledMaskFn::apply(theta, w, kappa, tau, int64_t(seed));
    return {out[0], out[1][0], out[1][1]};
  }
  // other devices and dtypes: the composite ops, noise from a generator seeded with `seed`
  at::Generator gen;
  if (theta.is_cpu()) {
    gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  } else {
    gen = at::globalContext().defaultGenerator(theta.device());
    gen.set_current_seed(seed);
  }
  Tensor M = gumbel_sigmoid(theta, kappa, tau, gen);
  return {M, M.sum(torch::kFloat32), masked_weight_norm(M, w)};
}

Tensor masked_weight_norm(const Tensor& m, const Tensor& w) { return MaskedWeightNormFn::apply(m, w); }

Tensor masked_linear(const Tensor& x, const Tensor& w, const Tensor& m, const Tensor& b) {
  Tensor y = MaskedLinearFn::apply(x, w, m);
  return b.defined() ? y + b : y;
}

Tensor gumbel_sigmoid(const Tensor& theta, double kappa, double tau, at::Generator gen) {
  Tensor u = torch::empty(theta.sizes(), theta.options().dtype(torch::kFloat32).requires_grad(false));
  u.uniform_(0.0, 1.0, gen).clamp_(1e-6, 1.0 - 1e-6);
  Tensor logistic = torch::log(u) - torch::log1p(-u);  // log u − log(1−u)
  return torch::sigmoid((kappa * theta.to(torch::kFloat32) + logistic) / tau).to(theta.scalar_type());
}

double MaskSchedule::tau(int64_t t, int64_t T) const {
  double f = T > 0 ? std::min(1.0, double(t) / double(T)) : 1.0;
  return tau0 + (tau1 - tau0) * f;
}
double MaskSchedule::kappa(int64_t t, int64_t T) const {
  double f = T > 0 ? std::min(1.0, double(t) / double(T)) : 1.0;
  return kappa0 + (kappa1 - kappa0) * f;
}

Tensor init_logits(const Tensor& prior_keep, double sigma0, double strength, at::Generator gen) {
  Tensor theta = torch::empty(prior_keep.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(prior_keep.device()));
  theta.normal_(0.0, sigma0, gen);
  Tensor sign = prior_keep.to(torch::kFloat32) * 2 - 1;  // keep → +1, prune → −1
  return theta + strength * theta.std().item<double>() * sign;
}

}  // namespace leap
