// mask.cpp — see mask.h.
#include "model/mask.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "base/error.h"
#include "model/device_mask.h"
#include "model/mask_kernel.h"
#include "model/nm_mask.h"

namespace leap {
using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

namespace {

// Reusable CPU buffers for the per-linear tensors of every micro-batch (the sampled M, W ⊙ M and
// dL/d(W⊙M)): the same shapes come back every micro-batch, and reusing them keeps glibc from
// scattering them over fresh heap (a peak RSS above the live set) or fresh mmaps (page faults). A
// buffer is free when the pool holds its storage's only reference. Per thread: the CPU backward
// runs on the thread that called it, the thread of the forward.
class BufferPool {
 public:
  Tensor get(at::IntArrayRef sizes, at::ScalarType dt) {
    const int64_t n = c10::multiply_integers(sizes);
    for (auto& t : bufs_)
      if (t.scalar_type() == dt && t.numel() == n && t.storage().use_count() == 1) return t.view(sizes);
    bufs_.push_back(torch::empty({n}, torch::TensorOptions().dtype(dt)));
    return bufs_.back().view(sizes);
  }
  void clear() { bufs_.clear(); }

 private:
  std::vector<Tensor> bufs_;
};
thread_local BufferPool pool;

// W ⊙ M into a pooled buffer on the CPU (same dtypes), else a fresh tensor
Tensor masked_weight(const Tensor& w, const Tensor& m) {
  if (w.is_cpu() && m.is_cpu() && at::promote_types(w.scalar_type(), m.scalar_type()) == w.scalar_type()) {
    Tensor out = pool.get(w.sizes(), w.scalar_type());
    return at::mul_out(out, w, m);
  }
  return w * m.to(w.scalar_type());
}

// y = x (W ⊙ M)ᵀ; backward: dL/dx = dy (W⊙M), dL/dθ via mask_logit_grad from dL/d(W⊙M) = dyᵀ x.
// Saves x (in the compute dtype), W and M (alive anyway) and the sampler's W ⊙ M when it wrote one
// (else no product: it is formed again in backward). dL/dθ is returned, or added into the gradient
// the mask names (LinearMask::grad). The engine casts dL/dx back to x's dtype.
class MaskedLinearFn : public torch::autograd::Function<MaskedLinearFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& theta, const Tensor& w, const Tensor& m,
                        double scale, double g_sum, double g_w2, const std::optional<Tensor>& P,
                        const std::optional<Tensor>& patterns, const std::optional<Tensor>& WM,
                        const std::optional<Tensor>& grad, int64_t grad_ready) {
    // N:M only (nullopt for the unstructured mask: an undefined tensor may not be an autograd input)
    ctx->saved_data["P"] = P.value_or(Tensor());
    ctx->saved_data["patterns"] = patterns.value_or(Tensor());
    // the gradient to add into, not a saved variable: the optimizer zeroes it between steps
    ctx->saved_data["grad"] = grad.value_or(Tensor());
    ctx->saved_data["grad_ready"] = grad_ready;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["g_sum"] = g_sum;
    ctx->saved_data["g_w2"] = g_w2;
    ctx->saved_data["theta_dtype"] = int64_t(theta.scalar_type());
    // under autocast the product runs in the autocast dtype, and backward in the same one (torch.amp's
    // custom_fwd(cast_inputs) / custom_bwd): the engine runs backward with autocast off, so record it
    const auto dev = x.device().type();
    const bool cast = at::autocast::is_autocast_enabled(dev);
    const auto cdt = cast ? at::autocast::get_autocast_dtype(dev) : x.scalar_type();
    ctx->saved_data["compute_dtype"] = int64_t(cdt);
    const Tensor xc = x.to(cdt);
    const Tensor wm_kept = WM.value_or(Tensor());
    ctx->save_for_backward({xc, w, m, wm_kept});
    Tensor wm = (wm_kept.defined() ? wm_kept : masked_weight(w, m)).to(cdt);  // W ⊙ M
    return torch::matmul(xc, wm.t());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &w = saved[1], &m = saved[2], &wm_kept = saved[3];
    const Tensor P = ctx->saved_data["P"].toTensor(), patterns = ctx->saved_data["patterns"].toTensor();
    const auto cdt = c10::ScalarType(ctx->saved_data["compute_dtype"].toInt());  // the forward's (x is in it)
    const Tensor gy = grads[0].to(cdt);                                          // [..., out]
    Tensor gx, gtheta;
    if (ctx->needs_input_grad(0))  // dL/dx = dy (W⊙M)
      gx = gy.matmul((wm_kept.defined() ? wm_kept : masked_weight(w, m)).to(cdt));
    if (ctx->needs_input_grad(1)) {
      Tensor gy2 = gy.reshape({-1, gy.size(-1)}), x2 = x.reshape({-1, x.size(-1)});
      Tensor gwm;  // dL/d(W⊙M) = dyᵀ x  [out, in]
      if (gy2.is_cpu() && gy2.scalar_type() == x2.scalar_type()) {
        gwm = pool.get({gy2.size(1), x2.size(1)}, gy2.scalar_type());
        at::mm_out(gwm, gy2.t(), x2);
      } else
        gwm = gy2.t().matmul(x2);
      const double scale = ctx->saved_data["scale"].toDouble(), g_sum = ctx->saved_data["g_sum"].toDouble(),
                   g_w2 = ctx->saved_data["g_w2"].toDouble();
      const Tensor into = ctx->saved_data["grad"].toTensor();
      gtheta = P.defined() ? nm_logit_grad(gwm, m, P, w, patterns, scale, g_sum, g_w2)
                           : mask_logit_grad(gwm, m, w, scale, g_sum, g_w2, true, into);
      if (into.defined() && !P.defined()) {  // added already: autograd carries nothing to the leaf
        gtheta = Tensor();
        if (auto* ready = reinterpret_cast<const std::function<void()>*>(ctx->saved_data["grad_ready"].toInt()))
          (*ready)();
      } else {
        const auto dt = c10::ScalarType(ctx->saved_data["theta_dtype"].toInt());
        if (gtheta.scalar_type() != dt) gtheta = gtheta.to(dt);
      }
    }
    return {gx,       gtheta,   Tensor(), Tensor(), Tensor(), Tensor(),
            Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

std::optional<Tensor> optional(const Tensor& t) {
  return t.defined() ? std::optional<Tensor>(t) : std::nullopt;
}

bool fused_ok(const Tensor& theta_or_m, const Tensor& w) {
  return theta_or_m.is_cpu() && w.is_cpu() && w.scalar_type() == torch::kFloat32 &&
         (theta_or_m.scalar_type() == torch::kFloat32 || theta_or_m.scalar_type() == torch::kBFloat16);
}

}  // namespace

MaskSample sample_mask(const Tensor& theta, const Tensor& w, double kappa, double tau, uint64_t seed,
                       bool with_product) {
  torch::NoGradGuard ng;
  if (fused_ok(theta, w)) {
    Tensor th = theta.detach().contiguous(), wc = w.contiguous();
    Tensor M = pool.get(th.sizes(), th.scalar_type());
    Tensor WM = with_product ? pool.get(wc.sizes(), torch::kFloat32) : Tensor();
    float* wmp = with_product ? WM.data_ptr<float>() : nullptr;
    const float* wp = wc.data_ptr<float>();
    const bool bf16 = th.scalar_type() == torch::kBFloat16;
    // per-block sums added in block order: the same bits for any thread count or schedule
    constexpr int64_t kBlock = 1 << 14;
    const int64_t n = th.numel(), nblocks = (n + kBlock - 1) / kBlock;
    std::vector<kernel::MaskSums> sums(static_cast<size_t>(nblocks));
    at::parallel_for(0, nblocks, 4, [&](int64_t b0, int64_t b1) {
      for (int64_t bl = b0; bl < b1; ++bl) {
        const int64_t lo = bl * kBlock, hi = std::min(n, (bl + 1) * kBlock);
        sums[size_t(bl)] = bf16 ? kernel::sample_mask(reinterpret_cast<const uint16_t*>(th.data_ptr<at::BFloat16>()),
                                                      wp, reinterpret_cast<uint16_t*>(M.data_ptr<at::BFloat16>()), wmp,
                                                      lo, hi, float(kappa), float(tau), seed)
                                : kernel::sample_mask(th.data_ptr<float>(), wp, M.data_ptr<float>(), wmp, lo, hi,
                                                      float(kappa), float(tau), seed);
      }
    });
    double sm = 0, sw = 0;
    for (const auto& x : sums) sm += x.m, sw += x.mw2;
    return {M, WM, sm, std::sqrt(sw)};
  }
  // other devices and dtypes: the composite ops, noise from a generator seeded with `seed`
  at::Generator gen = seeded_generator(theta.device(), seed);
  Tensor M = gumbel_sigmoid(theta.detach(), kappa, tau, gen);
  Tensor Mf = M.to(torch::kFloat32);
  Tensor stats = torch::stack({Mf.sum(), (Mf * w.to(torch::kFloat32)).norm()}).to(torch::kFloat64).cpu();
  return {M, Tensor(), stats[0].item<double>(), stats[1].item<double>()};
}

Tensor mask_logit_grad(Tensor g, const Tensor& M, const Tensor& w, double scale, double g_sum, double g_w2, bool fused,
                       const Tensor& into) {
  torch::NoGradGuard ng;
  const bool add = into.defined();
  LEAP_CHECK(!add || (into.sizes() == M.sizes() && into.scalar_type() == torch::kFloat32),
             "mask gradient: the gradient to add into must be float32 of the mask's shape");
  if (fused && fused_ok(M, w) && g.is_cpu() && g.scalar_type() == torch::kFloat32 &&
      (!add || (into.is_cpu() && into.is_contiguous()))) {
    g = g.contiguous();
    Tensor Mc = M.contiguous(), wc = w.contiguous();
    const bool bf16 = Mc.scalar_type() == torch::kBFloat16;
    float* out = add ? into.data_ptr<float>() : g.data_ptr<float>();  // into `into`, or in place over g
    const float *gp = g.data_ptr<float>(), *wp = wc.data_ptr<float>();
    at::parallel_for(0, g.numel(), 1 << 15, [&](int64_t b, int64_t e) {
      if (bf16)
        kernel::mask_logit_grad(gp, reinterpret_cast<const uint16_t*>(Mc.data_ptr<at::BFloat16>()), wp, out, b, e,
                                float(g_sum), float(g_w2), float(scale), add);
      else
        kernel::mask_logit_grad(gp, Mc.data_ptr<float>(), wp, out, b, e, float(g_sum), float(g_w2), float(scale), add);
    });
    return add ? into : g;
  }
  const auto ct = at::promote_types(M.scalar_type(), torch::kFloat32);  // float32, or float64 for float64 θ
  Tensor Mf = M.to(ct), wf = w.to(ct);
  Tensor gm = g.to(ct) * wf + g_sum + g_w2 * Mf * wf * wf;  // dL/dM
  Tensor gtheta = gm * scale * Mf * (1 - Mf);               // · dM/dθ, in float32 (float64 for float64 θ)
  return add ? into.add_(gtheta) : gtheta;
}

at::Generator seeded_generator(const torch::Device& device, uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Generator gen = at::globalContext().defaultGenerator(device);
  gen.set_current_seed(seed);
  return gen;
}

Tensor pooled_cpu_buffer(at::IntArrayRef sizes, at::ScalarType dt) {
  return pool.get(sizes, dt);
}

void release_mask_buffers() {
  pool.clear();
}

Tensor masked_linear(const Tensor& x, const Tensor& w, const LinearMask& m, const Tensor& b) {
  Tensor y;
  if (m.logits.defined())  // the device-resident path
    y = device_masked_linear(x, w, m);
  else if (m.theta.defined())
    y = MaskedLinearFn::apply(x, m.theta, w, m.M, m.scale, m.g_sum, m.g_w2, optional(m.P), optional(m.patterns),
                              optional(m.WM), optional(m.grad), reinterpret_cast<int64_t>(m.grad_ready));
  else  // forward only: no θ
    y = torch::matmul(x, (m.WM.defined() ? m.WM : masked_weight(w, m.M)).t());
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
  Tensor theta =
      torch::empty(prior_keep.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(prior_keep.device()));
  theta.normal_(0.0, sigma0, gen);
  Tensor sign = prior_keep.to(torch::kFloat32) * 2 - 1;  // keep → +1, prune → −1
  return theta + strength * theta.std().item<double>() * sign;
}

}  // namespace leap
