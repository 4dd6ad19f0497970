// py_random.cpp — CPython's _randommodule.c algorithms (MT19937 by Matsumoto & Nishimura).
#include "base/py_random.h"

#include <vector>

#include "base/error.h"

namespace leap {

void PyRandom::init_genrand(uint32_t s) {
  mt_[0] = s;
  for (mti_ = 1; mti_ < 624; ++mti_) mt_[mti_] = 1812433253u * (mt_[mti_ - 1] ^ (mt_[mti_ - 1] >> 30)) + uint32_t(mti_);
}

PyRandom::PyRandom(uint64_t seed) {
  // random.seed(n): key = the 32-bit words of |n|, least significant first ([0] for n == 0)
  std::vector<uint32_t> key;
  do {
    key.push_back(uint32_t(seed & 0xffffffffu));
    seed >>= 32;
  } while (seed);
  init_genrand(19650218u);
  size_t i = 1, j = 0, n = key.size();
  for (size_t k = (624 > n ? 624 : n); k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + uint32_t(j);
    ++i;
    ++j;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
    if (j >= n) j = 0;
  }
  for (size_t k = 623; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - uint32_t(i);
    ++i;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  mti_ = 624;
}

uint32_t PyRandom::genrand_uint32() {
  static const uint32_t mag01[2] = {0x0u, 0x9908b0dfu};
  uint32_t y;
  if (mti_ >= 624) {
    int kk;
    for (kk = 0; kk < 624 - 397; ++kk) {
      y = (mt_[kk] & 0x80000000u) | (mt_[kk + 1] & 0x7fffffffu);
      mt_[kk] = mt_[kk + 397] ^ (y >> 1) ^ mag01[y & 1u];
    }
    for (; kk < 623; ++kk) {
      y = (mt_[kk] & 0x80000000u) | (mt_[kk + 1] & 0x7fffffffu);
      mt_[kk] = mt_[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 1u];
    }
    y = (mt_[623] & 0x80000000u) | (mt_[0] & 0x7fffffffu);
    mt_[623] = mt_[396] ^ (y >> 1) ^ mag01[y & 1u];
    mti_ = 0;
  }
  y = mt_[mti_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

uint64_t PyRandom::getrandbits(int k) {
  LEAP_CHECK(k >= 1 && k <= 64, "getrandbits(%d): k must be in [1, 64]", k);
  if (k <= 32) return genrand_uint32() >> (32 - k);
  uint64_t lo = genrand_uint32();  // words fill from the least significant end
  uint64_t hi = genrand_uint32() >> (64 - k);
  return lo | (hi << 32);
}

int64_t PyRandom::randint(int64_t a, int64_t b) {
  LEAP_CHECK(b >= a, "randint(%lld, %lld): empty range", (long long)a, (long long)b);
  uint64_t n = uint64_t(b - a) + 1;
  int k = 0;
  while (k < 64 && (n >> k) != 0) ++k;  // n.bit_length()
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return a + int64_t(r);
}

double PyRandom::random() {
  uint32_t a = genrand_uint32() >> 5, b = genrand_uint32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

}  // namespace leap
