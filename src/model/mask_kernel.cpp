// mask_kernel.cpp — see mask_kernel.h. Built with -O3 -ffast-math (CMakeLists.txt): inputs are
// finite and the exponent is clamped, so the fast-math assumptions hold. The loops are templates
// over the mask-state type, force-inlined into non-template entry points that carry the x86-64-v3
// (AVX2 + FMA) clone.
#include "model/mask_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/mask_element.h"

namespace leap::kernel {

namespace {
// float32 and bfloat16 mask state (mask_element.h's conversions)
inline float load(float x) {
  return x;
}
inline float load(uint16_t h) {
  return bf16_load(h);
}
inline void store(float* p, float x) {
  *p = x;
}
inline void store(uint16_t* p, float x) {
  *p = bf16_round(x);
}

template <bool WriteWM, typename T>
__attribute__((always_inline)) inline MaskSums sample_impl(const T* theta, const float* w, T* m, float* wm,
                                                           int64_t begin, int64_t end, float kappa, float tau,
                                                           uint64_t seed) {
  const uint32_t s0 = seed_lo(seed), s1 = seed_hi(seed);
  const float a = kappa / tau, b = 1.0f / tau;
  MaskSums out;
  constexpr int64_t kBlock = 4096;  // float partial sums over short blocks, accumulated in double
  for (int64_t lo = begin; lo < end; lo += kBlock) {
    const int64_t hi = std::min(end, lo + kBlock);
    float sm = 0.f, sw = 0.f;
    for (int64_t i = lo; i < hi; ++i) {
      store(m + i, mask_value(load(theta[i]), uint32_t(i), a, b, s0, s1));  // σ((κθ + log u − log(1−u))/τ)
      const float M = load(m[i]);  // the stored value: what the linear will use
      sm += M;
      const float mw = M * w[i];
      if constexpr (WriteWM) wm[i] = mw;  // W ⊙ M
      sw += mw * mw;
    }
    out.m += sm;
    out.mw2 += sw;
  }
  return out;
}

template <bool Add, typename T>
__attribute__((always_inline)) inline void grad_impl(const float* g, const T* m, const float* w, float* gtheta,
                                                     int64_t begin, int64_t end, float g_sum, float g_w2, float scale) {
  for (int64_t i = begin; i < end; ++i) {
    const float v = logit_grad_value(g[i], load(m[i]), w[i], g_sum, g_w2, scale);
    if constexpr (Add)
      gtheta[i] += v;
    else
      gtheta[i] = v;
  }
}

constexpr int64_t kMaxPatterns = 70;  // C(8, 4)

// The patterns as 0/1 floats, so the pattern sums are multiply-adds without branches.
struct PatternTable {
  float v[kMaxPatterns][8] = {};
  PatternTable(const uint8_t* bits, int64_t C, int64_t Mw) {
    for (int64_t k = 0; k < C; ++k)
      for (int64_t j = 0; j < Mw; ++j) v[k][j] = float((bits[k] >> j) & 1U);
  }
};

// N:M sampling over groups [g0, g1), in blocks of ~4096 logits: (1) the Gumbel-perturbed logits
// of the whole block in one flat loop (the two logs vectorise), (2) each group's maximum
// subtracted, (3) one flat exp, (4) per group the normalisation, the pattern sums and the
// statistics. C and Mw are constants where the entry point calls it for 2:4 and 4:8, so (2) and
// (4) unroll.
__attribute__((always_inline)) inline MaskSums sample_nm_impl(const float* theta, const float* w, float* p, float* m,
                                                              int64_t g0, int64_t g1, int64_t C, int64_t Mw,
                                                              const PatternTable& pat, float kappa, float tau,
                                                              uint64_t seed) {
  const uint32_t s0 = seed_lo(seed), s1 = seed_hi(seed);
  const float a = kappa / tau, b = 1.0f / tau;
  const int64_t block = std::max<int64_t>(1, 4096 / C);
  MaskSums out;
  for (int64_t lo = g0; lo < g1; lo += block) {
    const int64_t hi = std::min(g1, lo + block), n = (hi - lo) * C;
    const float* th = theta + lo * C;
    float* z = p + lo * C;
    const uint32_t base = uint32_t(lo * C);  // logit index of the block's first logit (mod 2³²)
    for (int64_t i = 0; i < n; ++i) {
      const float u = uniform(base + uint32_t(i), s0, s1);
      z[i] = a * th[i] - b * fast_log(-fast_log(u));  // (κθ + g)/τ, g = −log(−log u)
    }
    for (int64_t gi = 0; gi < hi - lo; ++gi) {
      float* zg = z + gi * C;
      float zmax = zg[0];
      for (int64_t k = 1; k < C; ++k) zmax = std::fmax(zmax, zg[k]);
      for (int64_t k = 0; k < C; ++k) zg[k] = std::fmax(zg[k] - zmax, -80.f);
    }
    for (int64_t i = 0; i < n; ++i) z[i] = fast_exp(z[i]);
    float sm = 0.f, sw = 0.f;
    for (int64_t gi = lo; gi < hi; ++gi) {
      float* pg = p + gi * C;
      float* mg = m + gi * Mw;
      const float* wg = w + gi * Mw;
      float sum = 0.f;
      for (int64_t k = 0; k < C; ++k) sum += pg[k];
      const float inv = 1.0f / sum;
      for (int64_t k = 0; k < C; ++k) pg[k] *= inv;  // p = softmax(z)
      for (int64_t j = 0; j < Mw; ++j) {
        float mj = 0.f;
        for (int64_t k = 0; k < C; ++k) mj += pg[k] * pat.v[k][j];  // M = Σ_k p_k·pattern_k
        mg[j] = mj;
        sm += mj;
        const float mw = mj * wg[j];
        sw += mw * mw;
      }
    }
    out.m += sm;
    out.mw2 += sw;
  }
  return out;
}

__attribute__((always_inline)) inline void nm_grad_impl(const float* g, const float* m, const float* p, const float* w,
                                                        float* gtheta, int64_t g0, int64_t g1, int64_t C, int64_t Mw,
                                                        const PatternTable& pat, float g_sum, float g_w2, float scale) {
  float gm[8], gp[kMaxPatterns];
  for (int64_t gi = g0; gi < g1; ++gi) {
    const float *gg = g + gi * Mw, *mg = m + gi * Mw, *wg = w + gi * Mw, *pg = p + gi * C;
    float* out = gtheta + gi * C;
    for (int64_t j = 0; j < Mw; ++j) gm[j] = gg[j] * wg[j] + g_sum + g_w2 * mg[j] * wg[j] * wg[j];  // dL/dM
    float s = 0.f;
    for (int64_t k = 0; k < C; ++k) {
      float acc = 0.f;  // dL/dp_k = Σ_{j∈k} dL/dM_j
      for (int64_t j = 0; j < Mw; ++j) acc += pat.v[k][j] * gm[j];
      gp[k] = acc;
      s += pg[k] * acc;
    }
    for (int64_t k = 0; k < C; ++k) out[k] = scale * pg[k] * (gp[k] - s);  // softmax backward · κ/τ
  }
}
}  // namespace

__attribute__((target_clones("arch=x86-64-v3", "default"))) MaskSums sample_nm(const float* theta, const float* w,
                                                                               float* p, float* m, int64_t g0,
                                                                               int64_t g1, int64_t C, int64_t Mw,
                                                                               const uint8_t* bits, float kappa,
                                                                               float tau, uint64_t seed) {
  const PatternTable pat(bits, C, Mw);
  if (C == 6 && Mw == 4) return sample_nm_impl(theta, w, p, m, g0, g1, 6, 4, pat, kappa, tau, seed);    // 2:4
  if (C == 70 && Mw == 8) return sample_nm_impl(theta, w, p, m, g0, g1, 70, 8, pat, kappa, tau, seed);  // 4:8
  return sample_nm_impl(theta, w, p, m, g0, g1, C, Mw, pat, kappa, tau, seed);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) void nm_logit_grad(
    const float* g, const float* m, const float* p, const float* w, float* gtheta, int64_t g0, int64_t g1, int64_t C,
    int64_t Mw, const uint8_t* bits, float g_sum, float g_w2, float scale) {
  const PatternTable pat(bits, C, Mw);
  if (C == 6 && Mw == 4) return nm_grad_impl(g, m, p, w, gtheta, g0, g1, 6, 4, pat, g_sum, g_w2, scale);
  if (C == 70 && Mw == 8) return nm_grad_impl(g, m, p, w, gtheta, g0, g1, 70, 8, pat, g_sum, g_w2, scale);
  nm_grad_impl(g, m, p, w, gtheta, g0, g1, C, Mw, pat, g_sum, g_w2, scale);
}

float uniform_at(uint64_t seed, int64_t i) {
  return uniform(uint32_t(i), seed_lo(seed), seed_hi(seed));
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) MaskSums sample_mask(const float* theta, const float* w,
                                                                                 float* m, float* wm, int64_t begin,
                                                                                 int64_t end, float kappa, float tau,
                                                                                 uint64_t seed) {
  return wm ? sample_impl<true>(theta, w, m, wm, begin, end, kappa, tau, seed)
            : sample_impl<false>(theta, w, m, wm, begin, end, kappa, tau, seed);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) MaskSums sample_mask(const uint16_t* theta, const float* w,
                                                                                 uint16_t* m, float* wm, int64_t begin,
                                                                                 int64_t end, float kappa, float tau,
                                                                                 uint64_t seed) {
  return wm ? sample_impl<true>(theta, w, m, wm, begin, end, kappa, tau, seed)
            : sample_impl<false>(theta, w, m, wm, begin, end, kappa, tau, seed);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) void mask_logit_grad(const float* g, const float* m,
                                                                                 const float* w, float* gtheta,
                                                                                 int64_t begin, int64_t end,
                                                                                 float g_sum, float g_w2, float scale,
                                                                                 bool add) {
  if (add)
    grad_impl<true>(g, m, w, gtheta, begin, end, g_sum, g_w2, scale);
  else
    grad_impl<false>(g, m, w, gtheta, begin, end, g_sum, g_w2, scale);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) void mask_logit_grad(const float* g, const uint16_t* m,
                                                                                 const float* w, float* gtheta,
                                                                                 int64_t begin, int64_t end,
                                                                                 float g_sum, float g_w2, float scale,
                                                                                 bool add) {
  if (add)
    grad_impl<true>(g, m, w, gtheta, begin, end, g_sum, g_w2, scale);
  else
    grad_impl<false>(g, m, w, gtheta, begin, end, g_sum, g_w2, scale);
}

}  // namespace leap::kernel
