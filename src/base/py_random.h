// py_random.h — Python's `random` module (MT19937 seeded as `random.seed(int)`, getrandbits,
// randint), bit for bit. Calibration draws samples exactly as Wanda and SparseGPT do
// (`random.seed(seed)`, then `random.randint`), so the same seed picks the same documents and
// windows as the reference scripts.
#pragma once
#include <cstdint>

namespace leap {

class PyRandom {
 public:
  explicit PyRandom(uint64_t seed);
  uint32_t genrand_uint32();
  uint64_t getrandbits(int k);            // 1 ≤ k ≤ 64
  int64_t randint(int64_t a, int64_t b);  // inclusive, as random.randint
  double random();                        // [0, 1), as random.random

 private:
  uint32_t mt_[624];
  int mti_ = 625;
  void init_genrand(uint32_t s);
};

}  // namespace leap
