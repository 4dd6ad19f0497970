// fast_math.h — log and exp as branch-free float polynomials (Cephes' logf/expf, ~1 ulp on the
// ranges stated), inline so the loops of the kernels that use them (mask_kernel.cpp,
// loss_kernel.cpp, built with -O3 -ffast-math) vectorise without calls into libmvec. The same
// functions compile for CUDA (mask_cuda.cu): the host and the device draw the same mask values.
// Not for arbitrary inputs: no NaN, infinity or range handling.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define LEAP_HD __host__ __device__
#else
#define LEAP_HD
#endif

namespace leap::kernel {

LEAP_HD inline uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
#endif
}
LEAP_HD inline float bits_float(uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float x;
  std::memcpy(&x, &b, 4);
  return x;
#endif
}
LEAP_HD inline float round_even(float x) {  // to the nearest integer, ties to even
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return std::nearbyint(x);
#endif
}

LEAP_HD inline float fast_log(float x) {  // x > 0, finite
  uint32_t b = float_bits(x);
  int32_t e = int32_t(b >> 23) - 127;
  b = (b & 0x007fffffU) | 0x3f800000U;  // mantissa in [1, 2)
  float m = bits_float(b);
  const bool big = m > 1.41421356f;  // to [√½, √2)
  m = big ? m * 0.5f : m;
  e += big ? 1 : 0;
  const float f = m - 1.0f, z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  const float fe = float(e);
  return f + (p * f * z - 0.5f * z) + fe * 0.693147180559945f;
}
LEAP_HD inline float fast_exp(float x) {  // |x| <= 80
  const float n = round_even(x * 1.44269504088896341f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // x − n·ln2 in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const uint32_t sc = uint32_t(int32_t(n) + 127) << 23;  // 2^n (n in [−116, 116])
  return p * bits_float(sc);
}

}  // namespace leap::kernel
