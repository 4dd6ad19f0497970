// lm_loss.cpp — see lm_loss.h.
#include "model/lm_loss.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include "base/error.h"
#include "model/loss_kernel.h"

namespace leap {
using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// The LM head's operands in the dtype the plain linear would compute in: the autocast dtype when
// autocast is on for x's device, else x's dtype.
std::pair<Tensor, Tensor> head_operands(const Tensor& x, const Tensor& w) {
  const auto dev = x.device().type();
  if (at::autocast::is_autocast_enabled(dev)) {
    const auto dt = at::autocast::get_autocast_dtype(dev);
    return {x.to(dt), w.to(dt)};
  }
  return {x, w.to(x.scalar_type())};
}

// One chunk's logits [c, V] in float32, computed as CausalLM::head does (soft-cap in the compute
// dtype); `capped` gets tanh(z / cap) in float32 when the model soft-caps them.
Tensor chunk_logits(const Tensor& x, const Tensor& w, double cap, Tensor* capped) {
  Tensor z = torch::mm(x, w.t());  // z = x Wᵀ
  if (cap <= 0) return z.to(torch::kFloat32);
  Tensor t = torch::tanh(z / cap);  // logits = cap · tanh(z / cap)
  if (capped) *capped = t.to(torch::kFloat32);
  return (t * cap).to(torch::kFloat32);
}

// Whether a chunk's logits take the fused CPU loop (loss_kernel.h): float32 on the CPU, no soft-cap.
bool fused_xent_ok(const Tensor& logits, double cap) {
  return cap <= 0 && logits.is_cpu() && logits.scalar_type() == torch::kFloat32 && logits.is_contiguous();
}

// One chunk on the fused loop: returns Σ −log p(target) over its rows and, with grad_scale > 0,
// leaves (softmax − onehot) · grad_scale in `logits` (z [c, V], tgt [c]). Rows are independent
// and their sums added in row order: the same bits for any thread count.
double fused_xent(Tensor& logits, const Tensor& tgt, double grad_scale) {
  const int64_t R = logits.size(0), V = logits.size(1);
  Tensor t = tgt.contiguous();
  LEAP_CHECK(t.numel() == R && t.min().item<int64_t>() >= 0 && t.max().item<int64_t>() < V,
             "cross-entropy: a target id outside [0, %lld)", (long long)V);
  std::vector<double> nll(static_cast<size_t>(R));
  float* z = logits.data_ptr<float>();
  const int64_t* tp = t.data_ptr<int64_t>();
  at::parallel_for(0, R, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) nll[size_t(r)] = kernel::softmax_xent_rows(z, tp, r, r + 1, V, float(grad_scale));
  });
  double sum = 0;
  for (double v : nll) sum += v;
  return sum;
}

// Mean cross-entropy of x Wᵀ (x: [N, H] after the final norm, W: [V, H], targets: [N]); the
// gradient with respect to x is formed chunk by chunk in forward and scaled in backward.
struct LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& w, const Tensor& targets, double cap,
                        int64_t chunk) {
    const bool grad = x.requires_grad();
    auto [xc, wc] = head_operands(x, w);
    const int64_t N = x.size(0);
    Tensor total = torch::zeros({}, x.options().dtype(torch::kFloat32));  // Σ −log p(target), on x's device
    Tensor gx = grad ? torch::empty({N, x.size(1)}, xc.options()) : Tensor();
    double fused_total = 0;  // the chunks that took the fused loop
    for (int64_t r = 0; r < N; r += chunk) {
      const int64_t e = std::min(N, r + chunk);
      Tensor t;
      Tensor logits = chunk_logits(xc.slice(0, r, e), wc, cap, &t);  // [c, V]
      if (fused_xent_ok(logits, cap) && (!grad || xc.scalar_type() == torch::kFloat32)) {
        fused_total += fused_xent(logits, targets.slice(0, r, e), grad ? 1.0 / double(N) : 0.0);
        if (grad) {
          Tensor out = gx.slice(0, r, e);
          at::mm_out(out, logits, wc);  // ∂CE/∂x = ∂CE/∂z · W
        }
        continue;
      }
      Tensor tgt = targets.slice(0, r, e).unsqueeze(1);            // [c, 1]
      Tensor lse = torch::logsumexp(logits, 1, /*keepdim=*/true);  // [c, 1]
      total += (lse - logits.gather(1, tgt)).sum();                // −log p = lse − logit(target)
      if (!grad) continue;
      Tensor d = (logits - lse).exp_();                                    // softmax
      d.scatter_add_(1, tgt, torch::full({e - r, 1}, -1.0, d.options()));  // ∂CE/∂logits = (softmax − onehot) / N
      d.div_(double(N));
      if (cap > 0) d.mul_(1 - t * t);                                  // ∂(cap · tanh(z / cap))/∂z = 1 − tanh²
      gx.slice(0, r, e).copy_(torch::mm(d.to(xc.scalar_type()), wc));  // ∂CE/∂x = ∂CE/∂z · W
    }
    total += fused_total;
    if (grad) {
      ctx->save_for_backward({gx});
      ctx->saved_data["dtype"] = int64_t(x.scalar_type());
    }
    return total / double(N);
  }

  static variable_list backward(AutogradContext* ctx, variable_list g) {
    Tensor gx = ctx->get_saved_variables()[0];
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {(gx * g[0].to(gx.scalar_type())).to(dtype), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

// (1 − a)·CE + a·τ²·KL of x Wᵀ against the teacher's xt Wᵀ (both [N, H] after the final norm);
// outputs: the loss (differentiable), CE and KL (for logs). Gradient formed in forward, as above.
struct LinearDistill : public torch::autograd::Function<LinearDistill> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x, const Tensor& w, const Tensor& targets,
                               const Tensor& xt, double cap, double a, double tau, int64_t topk, int64_t chunk) {
    const bool grad = x.requires_grad();
    auto [xc, wc] = head_operands(x, w);
    Tensor xtc = head_operands(xt, w).first;
    const int64_t N = x.size(0);
    Tensor ce = torch::zeros({}, x.options().dtype(torch::kFloat32)), kl = torch::zeros_like(ce);
    Tensor gx = grad ? torch::empty({N, x.size(1)}, xc.options()) : Tensor();
    for (int64_t r = 0; r < N; r += chunk) {
      const int64_t e = std::min(N, r + chunk);
      Tensor t;
      Tensor zs = chunk_logits(xc.slice(0, r, e), wc, cap, &t);        // [c, V] student
      Tensor zt = chunk_logits(xtc.slice(0, r, e), wc, cap, nullptr);  // [c, V] teacher
      Tensor tgt = targets.slice(0, r, e).unsqueeze(1);                // [c, 1]
      Tensor lse = torch::logsumexp(zs, 1, true);                      // [c, 1]
      ce += (lse - zs.gather(1, tgt)).sum();                           // −log p(target)
      Tensor ls = torch::log_softmax(zs / tau, 1);                     // log p_s at τ
      Tensor pt;                                                       // p_t, [c, V] (0 off the top-k)
      if (topk > 0 && topk < zt.size(1)) {
        auto [v, idx] = torch::topk(zt, topk, 1);
        Tensor lp = torch::log_softmax(v / tau, 1);  // renormalised over the k
        kl += (lp.exp() * (lp - ls.gather(1, idx))).sum();
        pt = torch::zeros_like(zs).scatter_(1, idx, lp.exp());
      } else {
        Tensor lp = torch::log_softmax(zt / tau, 1);
        pt = lp.exp();
        kl += (pt * (lp - ls)).sum();  // KL(p_t ‖ p_s)
      }
      if (!grad) continue;
      Tensor d = (zs - lse).exp_();                                        // softmax(z_s)
      d.scatter_add_(1, tgt, torch::full({e - r, 1}, -1.0, d.options()));  // − onehot
      d.mul_((1 - a) / double(N));
      d.add_((ls.exp() - pt) * (a * tau / double(N)));  // a·τ²·∂KL/∂z_s = a·τ (p_s − p_t)
      if (cap > 0) d.mul_(1 - t * t);
      gx.slice(0, r, e).copy_(torch::mm(d.to(xc.scalar_type()), wc));
    }
    if (grad) {
      ctx->save_for_backward({gx});
      ctx->saved_data["dtype"] = int64_t(x.scalar_type());
    }
    ce /= double(N);
    kl /= double(N);
    Tensor loss = ce * (1 - a) + kl * (a * tau * tau);
    ctx->mark_non_differentiable({ce, kl});
    return {loss, ce, kl};
  }

  static variable_list backward(AutogradContext* ctx, variable_list g) {
    Tensor gx = ctx->get_saved_variables()[0];
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {(gx * g[0].to(gx.scalar_type())).to(dtype),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor()};
  }
};

double final_cap(const CausalLM& m) {
  return m->config().final_logit_softcapping ? *m->config().final_logit_softcapping : 0.0;
}

}  // namespace

Tensor next_token_nll(CausalLM& m, const Tensor& h, const Tensor& targets, int64_t chunk) {
  LEAP_CHECK(h.dim() == 3 && targets.sizes() == h.sizes().slice(0, 2), "next_token_nll: h [B, T, H], targets [B, T]");
  torch::NoGradGuard ng;
  const int64_t B = h.size(0), T = h.size(1);
  auto [x, w] = head_operands(m->model->norm(h).reshape({B * T, h.size(2)}), m->lm_head_weight());
  Tensor tgt = targets.reshape({B * T, 1}).to(h.device());
  Tensor nll = torch::empty({B * T}, h.options().dtype(torch::kFloat32));
  for (int64_t r = 0; r < B * T; r += chunk) {
    const int64_t e = std::min(B * T, r + chunk);
    Tensor lp = torch::log_softmax(chunk_logits(x.slice(0, r, e), w, final_cap(m), nullptr), 1);  // [c, V]
    nll.slice(0, r, e).copy_(-lp.gather(1, tgt.slice(0, r, e)).squeeze(1));
  }
  return nll.view({B, T});
}

Tensor next_token_cross_entropy(CausalLM& m, const Tensor& h, const Tensor& targets, int64_t chunk) {
  LEAP_CHECK(h.dim() == 3 && targets.sizes() == h.sizes().slice(0, 2),
             "next_token_cross_entropy: h [B, T, H], targets [B, T]");
  const int64_t B = h.size(0), T = h.size(1);
  Tensor x = m->model->norm(h).reshape({B * T, h.size(2)});  // the final norm stays in autograd
  return LinearCrossEntropy::apply(x, m->lm_head_weight(), targets.reshape({B * T}).to(h.device()), final_cap(m),
                                   chunk);
}

DistillLoss next_token_distill_loss(CausalLM& m, const Tensor& h, const Tensor& targets, const Tensor& ht,
                                    double weight, double temperature, int64_t topk, int64_t chunk) {
  LEAP_CHECK(h.dim() == 3 && targets.sizes() == h.sizes().slice(0, 2) && ht.sizes() == h.sizes(),
             "next_token_distill_loss: h and ht [B, T, H], targets [B, T]");
  LEAP_CHECK(weight >= 0 && weight <= 1 && temperature > 0 && topk >= 0,
             "distillation: weight in [0, 1], temperature > 0, top-k >= 0 (got %g, %g, %lld)", weight, temperature,
             (long long)topk);
  const int64_t B = h.size(0), T = h.size(1);
  Tensor x = m->model->norm(h).reshape({B * T, h.size(2)});
  Tensor xt;
  {
    torch::NoGradGuard ng;
    xt = m->model->norm(ht).reshape({B * T, h.size(2)});
  }
  variable_list out = LinearDistill::apply(x, m->lm_head_weight(), targets.reshape({B * T}).to(h.device()), xt,
                                           final_cap(m), weight, temperature, topk, chunk);
  return {out[0], out[1].item<double>(), out[2].item<double>()};
}

}  // namespace leap
