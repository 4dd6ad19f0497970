// loss_kernel.cpp — see loss_kernel.h. Built with -O3 -ffast-math (CMakeLists.txt): the logits are
// finite and exp's argument is clamped to [−80, 0], so the fast-math assumptions hold.
#include "model/loss_kernel.h"

#include <algorithm>
#include <cmath>

#include "model/fast_math.h"

namespace leap::kernel {

namespace {
constexpr int64_t kSumBlock = 512;  // float partial sums this long, added in double

// e_j = exp(z_j − mx) over one row, stored back into z when `store`; returns Σ e_j
template <bool store>
__attribute__((always_inline)) inline double exp_sum(float* z, int64_t V, float mx) {
  double s = 0;
  for (int64_t j0 = 0; j0 < V; j0 += kSumBlock) {
    const int64_t j1 = std::min(V, j0 + kSumBlock);
    float sb = 0;
    for (int64_t j = j0; j < j1; ++j) {
      const float e = fast_exp(std::fmax(z[j] - mx, -80.f));
      if (store) z[j] = e;
      sb += e;
    }
    s += double(sb);
  }
  return s;
}
}  // namespace

__attribute__((target_clones("arch=x86-64-v3", "default"))) double softmax_xent_rows(float* z, const int64_t* targets,
                                                                                     int64_t r0, int64_t r1, int64_t V,
                                                                                     float grad_scale) {
  double nll = 0;
  for (int64_t r = r0; r < r1; ++r) {
    float* zr = z + r * V;
    const int64_t t = targets[r];
    float mx = zr[0];
    for (int64_t j = 1; j < V; ++j) mx = std::fmax(mx, zr[j]);
    const float zt = zr[t];
    const bool grad = grad_scale > 0;
    const double s = grad ? exp_sum<true>(zr, V, mx) : exp_sum<false>(zr, V, mx);
    nll += double(mx) + std::log(s) - double(zt);  // −log p(t) = lse − z_t
    if (!grad) continue;
    const float c = float(double(grad_scale) / s);  // softmax_j · scale = e_j · scale / Σe
    for (int64_t j = 0; j < V; ++j) zr[j] *= c;
    zr[t] -= grad_scale;  // − onehot · scale
  }
  return nll;
}

}  // namespace leap::kernel
