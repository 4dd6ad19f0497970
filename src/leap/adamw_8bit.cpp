// adamw_8bit.cpp — see adamw_8bit.h.
#include "leap/adamw_8bit.h"

#include <ATen/Parallel.h>
#include <algorithm>
#include <array>
#include <cmath>

#include "base/error.h"

namespace leap {
using torch::Tensor;

namespace {
constexpr int64_t B = kMoment8bitBlock;

// bitsandbytes' create_dynamic_map(signed, max_exponent_bits = 7, total_bits = 8), in torchao's
// form, with the same float32 LibTorch ops: for exponent i = 0..6, 2^i (signed, each sign) or
// 2^(i+1) (unsigned) midpoints of linspace(0.1, 1) scaled by 10^(i − 6); plus 0 and 1; sorted.
std::array<float, 256> make_qmap(bool is_signed) {
  constexpr int kExpBits = 7, kNonSignBits = 7;
  std::vector<float> data;
  for (int i = 0; i < kExpBits; ++i) {
    const int64_t items = is_signed ? (int64_t(1) << (i + kNonSignBits - kExpBits)) + 1
                                    : (int64_t(1) << (i + kNonSignBits - kExpBits + 1)) + 1;
    const Tensor bounds = torch::linspace(0.1, 1.0, items, torch::kFloat32);
    const Tensor means = (bounds.slice(0, 0, items - 1) + bounds.slice(0, 1)) / 2.0;
    const double p10 = std::pow(10.0, double(i - (kExpBits - 1)));
    for (const Tensor& t :
         is_signed ? std::vector<Tensor>{means * p10, means * -p10} : std::vector<Tensor>{means * p10})
      for (int64_t k = 0; k < t.numel(); ++k) data.push_back(t[k].item<float>());
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  LEAP_CHECK(data.size() == 256, "dynamic quantization map: %zu values", data.size());
  std::sort(data.begin(), data.end());
  std::array<float, 256> q{};
  std::copy(data.begin(), data.end(), q.begin());
  return q;
}

const std::array<float, 256>& qmap_values(bool is_signed) {
  static const std::array<float, 256> s = make_qmap(true), u = make_qmap(false);
  return is_signed ? s : u;
}

// The code of x ∈ [q[0], 1]: a branchless binary search for the last q[c] ≤ x, then round to the
// nearer of q[c] and q[c + 1] (ties up), as torchao's quantize_8bit_with_qmap.
inline uint8_t code_of(float x, const float* q) {
  int c = x >= q[128] ? 128 : 0;
  for (int step = 64; step >= 1; step /= 2) c += x >= q[c + step] ? step : 0;
  const int up = std::min(c + 1, 255);
  return uint8_t(x - q[c] >= (q[up] - q[c]) * 0.5f ? up : c);
}

bool fused_ok(const Tensor& p, const Tensor& g, const Moment8bit& m, const Moment8bit& v) {
  for (const Tensor* t : {&p, &g, &m.scale, &v.scale})
    if (!t->is_cpu() || t->scalar_type() != torch::kFloat32 || !t->is_contiguous()) return false;
  return m.codes.is_cpu() && v.codes.is_cpu() && m.codes.is_contiguous() && v.codes.is_contiguous();
}

// LibTorch ops (any device): torchao's formulation line by line.
Tensor quantize_codes(const Tensor& y, const Tensor& q) {  // y float32 [..] within [q[0], 1]
  Tensor c = torch::where(y >= q[128], 128, 0);
  for (int64_t step = 64; step >= 1; step /= 2) c = c + torch::where(y >= q.take(c + step), step, 0);
  Tensor up = (c + 1).clamp_max(255), lo = q.take(c), hi = q.take(up);
  return torch::where(y - lo >= (hi - lo) * 0.5, up, c).to(torch::kUInt8);
}

void adamw_8bit_composite(Tensor& p, const Tensor& g, Moment8bit& m, Moment8bit& v, const AdamWStep& s) {
  const double bc1 = 1.0 - std::pow(s.beta1, double(s.t)), bc2 = 1.0 - std::pow(s.beta2, double(s.t));
  Tensor mf = dequantize_moment(m).lerp_(g, 1.0 - s.beta1);
  Tensor vf = dequantize_moment(v).lerp_(g * g, 1.0 - s.beta2);
  quantize_moment(mf, m);
  quantize_moment(vf, v);
  if (s.weight_decay != 0) p.sub_(p * (s.lr * s.weight_decay));  // θ − lr·wd·θ
  Tensor denom = vf.sqrt_().div_(std::sqrt(bc2)).add_(s.eps);
  p.addcdiv_(mf, denom, -s.lr / bc1);
}

// The fused CPU step over blocks [b0, b1).
// qs, qu: the signed and unsigned maps.
void adamw_8bit_blocks(float* p, const float* g, uint8_t* mc, float* ms, uint8_t* vc, float* vs, int64_t b0, int64_t b1,
                       const float* qs, const float* qu, const AdamWStep& s) {
  const float w1 = float(1.0 - s.beta1), w2 = float(1.0 - s.beta2);
  const float lr_wd = float(s.lr * s.weight_decay);
  const float step_size = float(s.lr / (1.0 - std::pow(s.beta1, double(s.t))));
  const float bc2_sqrt = float(std::sqrt(1.0 - std::pow(s.beta2, double(s.t))));
  const float eps = float(s.eps);
  float m[B], v[B];
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t o = b * B;
    float mmax = 0.f, vmax = 0.f;
    for (int64_t j = 0; j < B; ++j) {
      const float gj = g[o + j], m0 = qs[mc[o + j]] * ms[b], v0 = qu[vc[o + j]] * vs[b];
      m[j] = std::fma(w1, gj - m0, m0);       // lerp(m̃, g, 1 − β1), as ATen's vectorised lerp
      v[j] = std::fma(w2, gj * gj - v0, v0);  // lerp(ṽ, g², 1 − β2)
      mmax = std::max(mmax, std::fabs(m[j]));
      vmax = std::max(vmax, std::fabs(v[j]));
    }
    ms[b] = std::max(mmax, 1e-12f);
    vs[b] = std::max(vmax, 1e-12f);
    for (int64_t j = 0; j < B; ++j) {
      mc[o + j] = code_of(m[j] / ms[b], qs);
      vc[o + j] = code_of(v[j] / vs[b], qu);
      const float pj = p[o + j] - lr_wd * p[o + j];  // θ − lr·wd·θ
      const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
      p[o + j] = pj - step_size * (m[j] / denom);
    }
  }
}
}  // namespace

Tensor dynamic_qmap(bool is_signed, torch::Device dev) {
  const auto& q = qmap_values(is_signed);
  return torch::from_blob(const_cast<float*>(q.data()), {256}, torch::kFloat32)
      .to(dev, /*non_blocking=*/false,
          /*copy=*/true);
}

Moment8bit Moment8bit::zeros(int64_t n, bool is_signed, torch::Device dev) {
  LEAP_CHECK(n % B == 0, "8-bit moments: %lld values, not a multiple of the block of %lld", (long long)n, (long long)B);
  Moment8bit m;
  m.codes = torch::empty({n}, torch::TensorOptions().dtype(torch::kUInt8).device(dev));
  m.scale = torch::zeros({n / B}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
  m.is_signed = is_signed;
  m.qmap = dynamic_qmap(is_signed, dev);
  // code of 0: the map holds 0 exactly, so zero moments dequantize to 0
  const auto& q = qmap_values(is_signed);
  m.codes.fill_(int64_t(std::find(q.begin(), q.end(), 0.0f) - q.begin()));
  return m;
}

int64_t Moment8bit::bytes() const {
  return codes.numel() + scale.numel() * 4;
}

void quantize_moment(const Tensor& x, Moment8bit& m) {
  torch::NoGradGuard ng;
  LEAP_CHECK(x.numel() == m.codes.numel(), "quantize_moment: %lld values for %lld codes", (long long)x.numel(),
             (long long)m.codes.numel());
  Tensor xb = x.to(torch::kFloat32).reshape({-1, B});
  Tensor scale = xb.abs().amax(-1).clamp_min(1e-12);
  m.scale.copy_(scale);
  m.codes.copy_(quantize_codes((xb / scale.unsqueeze(1)).reshape({-1}), m.qmap));
}

Tensor dequantize_moment(const Moment8bit& m) {
  torch::NoGradGuard ng;
  return (m.qmap.take(m.codes.to(torch::kLong)).view({-1, B}) * m.scale.unsqueeze(1)).reshape({-1});
}

void adamw_8bit_step(Tensor& p, const Tensor& g, Moment8bit& m, Moment8bit& v, const AdamWStep& s, bool fused) {
  torch::NoGradGuard ng;
  const int64_t n = p.numel();
  LEAP_CHECK(g.numel() == n && m.codes.numel() == n && v.codes.numel() == n && n % B == 0,
             "adamw_8bit_step: parameter %lld, gradient %lld, moments %lld / %lld values (blocks of %lld)",
             (long long)n, (long long)g.numel(), (long long)m.codes.numel(), (long long)v.codes.numel(), (long long)B);
  if (!fused || !fused_ok(p, g, m, v)) return adamw_8bit_composite(p, g, m, v, s);
  float* pp = p.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  uint8_t *mc = m.codes.data_ptr<uint8_t>(), *vc = v.codes.data_ptr<uint8_t>();
  float *ms = m.scale.data_ptr<float>(), *vs = v.scale.data_ptr<float>();
  const float *qs = qmap_values(true).data(), *qu = qmap_values(false).data();  // built here, not in a worker
  at::parallel_for(0, n / B, 64,
                   [&](int64_t b0, int64_t b1) { adamw_8bit_blocks(pp, gp, mc, ms, vc, vs, b0, b1, qs, qu, s); });
}

}  // namespace leap
