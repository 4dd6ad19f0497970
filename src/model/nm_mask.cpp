// nm_mask.cpp — see nm_mask.h.
#include "model/nm_mask.h"

#include <ATen/Parallel.h>
#include <algorithm>
#include <numeric>

#include "base/error.h"
#include "model/mask.h"
#include "model/mask_kernel.h"

namespace leap {
using torch::Tensor;

Tensor nm_patterns(int64_t n, int64_t m) {
  LEAP_CHECK(m >= 2 && m <= 8 && n >= 1 && n < m,
             "learnable N:M masks need 1 <= N < M <= 8 (got %lld:%lld; C(M,N) logits per group)", (long long)n,
             (long long)m);
  std::vector<float> rows;
  int64_t count = 0;
  for (int64_t bits = 0; bits < (int64_t(1) << m); ++bits) {
    if (__builtin_popcountll(uint64_t(bits)) != n) continue;
    ++count;
    for (int64_t j = 0; j < m; ++j) rows.push_back(float((bits >> j) & 1));
  }
  Tensor p = torch::from_blob(rows.data(), {count, m}, torch::kFloat32).clone();
  // lexicographic order of the kept positions: sort rows by their kept index lists
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), int64_t(0));
  auto kept = [&](int64_t r) {
    std::vector<int64_t> k;
    for (int64_t j = 0; j < m; ++j)
      if (rows[size_t(r * m + j)] > 0) k.push_back(j);
    return k;
  };
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return kept(a) < kept(b); });
  return p.index_select(0, torch::tensor(order, torch::kInt64));
}

Tensor nm_pattern_weights(const Tensor& theta, const Tensor& u, double kappa, double tau) {
  const auto ct = at::promote_types(theta.scalar_type(), torch::kFloat32);  // float32, or float64 for float64 θ
  Tensor gumbel = -torch::log(-torch::log(u.to(ct)));                       // g = −log(−log u)
  return torch::softmax((kappa * theta.to(ct) + gumbel) / tau, -1);         // p = softmax((κθ + g)/τ)
}

namespace {

// The fused CPU loops (mask_kernel.h) take float32 θ and W.
bool fused_nm_ok(const Tensor& theta, const Tensor& w) {
  return theta.is_cpu() && w.is_cpu() && theta.scalar_type() == torch::kFloat32 && w.scalar_type() == torch::kFloat32;
}

// pattern k's kept positions as bits (bit j: position j)
std::vector<uint8_t> pattern_bits(const Tensor& patterns) {
  Tensor p = patterns.to(torch::kCPU).to(torch::kFloat32).contiguous();
  std::vector<uint8_t> bits(size_t(p.size(0)), 0);
  const float* d = p.data_ptr<float>();
  for (int64_t k = 0; k < p.size(0); ++k)
    for (int64_t j = 0; j < p.size(1); ++j)
      if (d[k * p.size(1) + j] > 0.5f) bits[size_t(k)] |= uint8_t(1U << j);
  return bits;
}

// Groups per parallel chunk: whole groups, a few thousand logits each.
int64_t group_grain(int64_t C) {
  return std::max<int64_t>(1, 8192 / C);
}

NmSample sample_nm_fused(const Tensor& theta, const Tensor& w, const Tensor& patterns, double kappa, double tau,
                         uint64_t seed) {
  Tensor th = theta.detach().contiguous(), wc = w.contiguous();
  const int64_t C = patterns.size(0), Mw = patterns.size(1), groups = w.numel() / Mw;
  const std::vector<uint8_t> bits = pattern_bits(patterns);
  Tensor P = pooled_cpu_buffer(th.sizes(), torch::kFloat32), M = pooled_cpu_buffer(w.sizes(), torch::kFloat32);
  // per-chunk sums added in chunk order: the same bits for any thread count or schedule
  const int64_t grain = group_grain(C), chunks = (groups + grain - 1) / grain;
  std::vector<kernel::MaskSums> sums(static_cast<size_t>(chunks));
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      sums[size_t(c)] = kernel::sample_nm(th.data_ptr<float>(), wc.data_ptr<float>(), P.data_ptr<float>(),
                                          M.data_ptr<float>(), c * grain, std::min(groups, (c + 1) * grain), C, Mw,
                                          bits.data(), float(kappa), float(tau), seed);
  });
  double sm = 0, sw = 0;
  for (const auto& x : sums) sm += x.m, sw += x.mw2;
  return {M, P, sm, std::sqrt(sw)};
}

}  // namespace

NmSample sample_nm_mask(const Tensor& theta, const Tensor& w, const Tensor& patterns, double kappa, double tau,
                        uint64_t seed) {
  torch::NoGradGuard ng;
  const int64_t out = w.size(0), in = w.size(1), m = patterns.size(1);
  LEAP_CHECK(theta.dim() == 3 && theta.size(0) == out && theta.size(1) * m == in && theta.size(2) == patterns.size(0),
             "N:M mask logits of shape %s do not fit a [%lld, %lld] weight with %lld patterns of %lld",
             shape_str(theta.sizes().vec()).c_str(), (long long)out, (long long)in, (long long)patterns.size(0),
             (long long)m);
  if (fused_nm_ok(theta, w)) return sample_nm_fused(theta, w, patterns, kappa, tau, seed);
  // other devices and dtypes: the composite ops, noise from a generator seeded with `seed`
  at::Generator gen = seeded_generator(theta.device(), seed);
  Tensor u = torch::empty(theta.sizes(), theta.options().dtype(torch::kFloat32));
  u.uniform_(0.0, 1.0, gen).clamp_(1e-6, 1.0 - 1e-6);
  Tensor P = nm_pattern_weights(theta.detach(), u, kappa, tau);      // [out, G, C]
  Tensor Mf = P.matmul(patterns.to(P.device())).reshape({out, in});  // M_group = Σ_k p_k·pattern_k
  Tensor stats = torch::stack({Mf.sum(), (Mf * w.to(torch::kFloat32)).norm()}).to(torch::kFloat64).cpu();
  return {Mf.to(theta.scalar_type()), P.to(theta.scalar_type()), stats[0].item<double>(), stats[1].item<double>()};
}

Tensor nm_logit_grad(const Tensor& g, const Tensor& M, const Tensor& P, const Tensor& w, const Tensor& patterns,
                     double scale, double g_sum, double g_w2, bool fused) {
  torch::NoGradGuard ng;
  if (fused && fused_nm_ok(P, w) && g.is_cpu() && g.scalar_type() == torch::kFloat32 &&
      M.scalar_type() == torch::kFloat32) {
    Tensor gc = g.contiguous(), Mc = M.contiguous(), Pc = P.contiguous(), wc = w.contiguous();
    const int64_t C = patterns.size(0), Mw = patterns.size(1), groups = w.numel() / Mw;
    const std::vector<uint8_t> bits = pattern_bits(patterns);
    Tensor out = torch::empty(Pc.sizes(), Pc.options());
    at::parallel_for(0, groups, group_grain(C), [&](int64_t g0, int64_t g1) {
      kernel::nm_logit_grad(gc.data_ptr<float>(), Mc.data_ptr<float>(), Pc.data_ptr<float>(), wc.data_ptr<float>(),
                            out.data_ptr<float>(), g0, g1, C, Mw, bits.data(), float(g_sum), float(g_w2), float(scale));
    });
    return out;
  }
  const auto ct = at::promote_types(M.scalar_type(), torch::kFloat32);  // float32, or float64 for float64 θ
  Tensor Mf = M.to(ct), wf = w.to(ct), Pf = P.to(ct);
  Tensor gm = g.to(ct) * wf + g_sum + g_w2 * Mf * wf * wf;  // dL/dM  [out, in]
  const int64_t m = patterns.size(1);
  Tensor gp = gm.view({Pf.size(0), Pf.size(1), m}).matmul(patterns.to(gm.device()).to(ct).t());  // dL/dp [out,G,C]
  Tensor dz = Pf * (gp - (Pf * gp).sum(-1, true));  // softmax backward: p ⊙ (dL/dp − Σ p·dL/dp)
  return dz.mul_(scale);                            // · κ/τ
}

Tensor init_nm_logits(const Tensor& prior_keep, const Tensor& patterns, int64_t n, double sigma0, double strength,
                      at::Generator gen) {
  const int64_t out = prior_keep.size(0), in = prior_keep.size(1), m = patterns.size(1), c = patterns.size(0);
  LEAP_CHECK(in % m == 0, "learnable %lld:%lld masks need the input width (%lld) to be a multiple of %lld",
             (long long)n, (long long)m, (long long)in, (long long)m);
  const auto opt = torch::TensorOptions().dtype(torch::kFloat32).device(prior_keep.device());
  Tensor theta = torch::empty({out, in / m, c}, opt);
  theta.normal_(0.0, sigma0, gen);
  Tensor overlap = prior_keep.to(torch::kFloat32).view({out, in / m, m}).matmul(patterns.to(opt).t());  // [out,G,C]
  return theta + strength * theta.std().item<double>() * (overlap - double(n - 1));
}

Tensor nm_keep_mask(const Tensor& theta, const Tensor& patterns) {
  torch::NoGradGuard ng;
  const int64_t out = theta.size(0), groups = theta.size(1), m = patterns.size(1);
  Tensor best = theta.argmax(-1).reshape({-1});  // [out·G], the first maximum on ties
  return patterns.to(theta.device()).index_select(0, best).reshape({out, groups * m}) > 0.5;
}

}  // namespace leap
