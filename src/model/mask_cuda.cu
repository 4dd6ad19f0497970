// mask_cuda.cu — see mask_cuda.h. Grid-stride loops over a launch size fixed by n alone (never by
// the device), so the partial sums, and with them ΣM and Σ(M·W)², are the same bits on every run
// and every GPU; block sums with CUB's BlockReduce (deterministic for a fixed block size).
#include <cub/block/block_reduce.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <type_traits>

#include "model/mask_cuda.h"
#include "model/mask_element.h"

namespace leap::cuda_kernel {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 2048;  // enough to fill an H200 (132 SMs x 2048 threads) twice over

struct Bf16 {  // bfloat16 as its bits (mask_element.h's conversions, as the CPU loops)
  uint16_t bits;
};

__device__ inline float ld(float x) {
  return x;
}
__device__ inline float ld(Bf16 x) {
  return kernel::bf16_load(x.bits);
}
__device__ inline float ld(__half x) {
  return __half2float(x);
}
__device__ inline void st(float* p, float v) {
  *p = v;
}
__device__ inline void st(Bf16* p, float v) {
  p->bits = kernel::bf16_round(v);
}
__device__ inline void st(__half* p, float v) {
  *p = __float2half_rn(v);
}

// M as the CPU path holds it: in θ's dtype (a bfloat16 θ gives a bfloat16 M)
template <class T>
__device__ inline float sampled(T theta, int64_t i, float a, float b, uint32_t s0, uint32_t s1) {
  const float m = kernel::mask_value(ld(theta), uint32_t(i), a, b, s0, s1);
  if constexpr (std::is_same_v<T, Bf16>) return kernel::bf16_load(kernel::bf16_round(m));
  return m;
}

int64_t blocks_for(int64_t n) {
  const int64_t per_block = int64_t(kThreads) * 8;  // ~8 elements per thread before the cap
  int64_t b = (n + per_block - 1) / per_block;
  return b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b);
}

// W ⊙ M into wm; this block's ΣM and Σ(M·W)² into partial[2·block], partial[2·block + 1]
template <class T, class W, class O>
__global__ void __launch_bounds__(kThreads)
    sample_kernel(const T* __restrict__ theta, const W* __restrict__ w, O* __restrict__ wm, int64_t n, float a, float b,
                  uint32_t s0, uint32_t s1, double* __restrict__ partial) {
  float sm = 0.f, sw = 0.f;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const float m = sampled(theta[i], i, a, b, s0, s1);  // M = σ((κθ + log u − log(1−u))/τ)
    const float mw = m * ld(w[i]);
    st(wm + i, mw);  // W ⊙ M
    sm += m;
    sw += mw * mw;
  }
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const double tm = Reduce(tmp).Sum(double(sm));
  __syncthreads();  // tmp is reused
  const double tw = Reduce(tmp).Sum(double(sw));
  if (threadIdx.x == 0) {
    partial[2 * blockIdx.x] = tm;
    partial[2 * blockIdx.x + 1] = tw;
  }
}

// stats[0..1] = the partials summed in a fixed order (one block)
__global__ void __launch_bounds__(kThreads)
    finish_kernel(const double* __restrict__ partial, int64_t blocks, double* __restrict__ stats) {
  double tm = 0, tw = 0;
  for (int64_t k = threadIdx.x; k < blocks; k += kThreads) {
    tm += partial[2 * k];
    tw += partial[2 * k + 1];
  }
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const double sm = Reduce(tmp).Sum(tm);
  __syncthreads();
  const double sw = Reduce(tmp).Sum(tw);
  if (threadIdx.x == 0) {
    stats[0] = sm;
    stats[1] = sw;
  }
}

// gθ = (g·W + g_sum + g_w2·M·W²) · scale · M(1 − M), written (out may alias g: each element is read
// before it is written, by the same thread) or added (Accumulate: out is the gradient bucket)
template <bool Accumulate, class G, class T, class W>
__global__ void __launch_bounds__(kThreads)
    grad_kernel(const G* g, const T* __restrict__ theta, const W* __restrict__ w, const float* __restrict__ coef,
                float* out, int64_t n, float a, float b, uint32_t s0, uint32_t s1, float scale) {
  const float g_sum = coef[0], g_w2 = coef[1];
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const float m = sampled(theta[i], i, a, b, s0, s1);  // the forward's M, re-derived
    const float v = kernel::logit_grad_value(ld(g[i]), m, ld(w[i]), g_sum, g_w2, scale);
    if constexpr (Accumulate)
      out[i] += v;
    else
      out[i] = v;
  }
}

// Calls f(T{}, W{}, O{}) with the element types of three dtypes.
template <class F>
const char* with_types(F&& f, Dt d) {
  switch (d) {
    case Dt::f32:
      return f(float{});
    case Dt::bf16:
      return f(Bf16{});
    case Dt::f16:
      return f(__half{});
  }
  return "unknown dtype";
}

const char* launched() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace

bool compiled() {
  return true;
}

int64_t sample_scratch(int64_t n) {
  return 2 * blocks_for(n);
}

const char* sample_masked_weight(const void* theta, Dt theta_dt, const void* w, Dt w_dt, void* wm, Dt wm_dt, int64_t n,
                                 float kappa, float tau, uint64_t seed, double* scratch, double* stats, void* stream) {
  if (theta_dt == Dt::f16) return "float16 mask logits are not supported";
  const int64_t blocks = blocks_for(n);
  const float a = kappa / tau, b = 1.0f / tau;
  const uint32_t s0 = kernel::seed_lo(seed), s1 = kernel::seed_hi(seed);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const char* err = with_types(
      [&](auto t) {
        using T = decltype(t);
        return with_types(
            [&](auto wv) {
              using W = decltype(wv);
              return with_types(
                  [&](auto o) {
                    using O = decltype(o);
                    sample_kernel<T, W, O>
                        <<<unsigned(blocks), kThreads, 0, s>>>(static_cast<const T*>(theta), static_cast<const W*>(w),
                                                               static_cast<O*>(wm), n, a, b, s0, s1, scratch);
                    return launched();
                  },
                  wm_dt);
            },
            w_dt);
      },
      theta_dt);
  if (err) return err;
  finish_kernel<<<1, kThreads, 0, s>>>(scratch, blocks, stats);
  return launched();
}

const char* mask_logit_grad(const void* g, Dt g_dt, const void* theta, Dt theta_dt, const void* w, Dt w_dt,
                            const float* coef, float* gtheta, bool accumulate, int64_t n, float kappa, float tau,
                            float scale, uint64_t seed, void* stream) {
  if (theta_dt == Dt::f16) return "float16 mask logits are not supported";
  const int64_t blocks = blocks_for(n);
  const float a = kappa / tau, b = 1.0f / tau;
  const uint32_t s0 = kernel::seed_lo(seed), s1 = kernel::seed_hi(seed);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return with_types(
      [&](auto gv) {
        using G = decltype(gv);
        return with_types(
            [&](auto t) {
              using T = decltype(t);
              return with_types(
                  [&](auto wv) {
                    using W = decltype(wv);
                    auto launch = [&](auto kernel_fn) {
                      kernel_fn<<<unsigned(blocks), kThreads, 0, s>>>(
                          static_cast<const G*>(g), static_cast<const T*>(theta), static_cast<const W*>(w), coef,
                          gtheta, n, a, b, s0, s1, scale);
                    };
                    if (accumulate)
                      launch(grad_kernel<true, G, T, W>);
                    else
                      launch(grad_kernel<false, G, T, W>);
                    return launched();
                  },
                  w_dt);
            },
            theta_dt);
      },
      g_dt);
}

}  // namespace leap::cuda_kernel
