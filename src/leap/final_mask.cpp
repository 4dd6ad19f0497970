// final_mask.cpp — see final_mask.h.
#include "leap/final_mask.h"

#include <cstring>
#include <limits>

#include "base/error.h"

namespace leap {
using torch::Tensor;

namespace {

constexpr int64_t kChunk = int64_t(1) << 24;  // elements per pass step: 128 MiB of int64 keys

// Order-preserving unsigned keys of float32 values, as int64 in [0, 2^32): negative floats map
// below positive ones, larger below smaller among negatives.
Tensor sortable_keys(const Tensor& x) {
  Tensor u = x.contiguous().view(torch::kInt32).to(torch::kInt64).bitwise_and(0xFFFFFFFFLL);  // the raw bits
  return torch::where(u >= (int64_t(1) << 31), int64_t(0xFFFFFFFFLL) - u, u + (int64_t(1) << 31));
}

float value_of_key(int64_t key) {
  const uint32_t u = key >= (int64_t(1) << 31) ? uint32_t(key - (int64_t(1) << 31)) : uint32_t(0xFFFFFFFFLL - key);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

double kth_largest(const std::vector<Tensor>& xs, int64_t k) {
  torch::NoGradGuard ng;
  int64_t total = 0;
  for (const auto& x : xs) {
    LEAP_CHECK(x.scalar_type() == torch::kFloat32, "kth_largest: expected float32 logits");
    total += x.numel();
  }
  if (k <= 0) return std::numeric_limits<double>::infinity();
  if (k > total) return -std::numeric_limits<double>::infinity();
  int64_t prefix = 0;  // the key bits fixed so far (the top 8·pass bits)
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    Tensor hist;  // [256] counts of the next 8 bits among keys that share the prefix
    for (const auto& x : xs) {
      Tensor flat = x.reshape({-1});
      for (int64_t lo = 0; lo < flat.numel(); lo += kChunk) {
        Tensor key = sortable_keys(flat.narrow(0, lo, std::min(kChunk, flat.numel() - lo)));
        if (pass > 0) key = key.masked_select(key.bitwise_right_shift(shift + 8) == prefix);
        Tensor h = torch::bincount(key.bitwise_right_shift(shift).bitwise_and(255), {}, 256);
        hist = hist.defined() ? hist + h : h;
      }
    }
    std::vector<int64_t> c(256);
    Tensor hc = hist.to(torch::kCPU).contiguous();
    std::copy(hc.data_ptr<int64_t>(), hc.data_ptr<int64_t>() + 256, c.begin());
    int digit = 255;
    for (; digit > 0 && c[size_t(digit)] < k; --digit) k -= c[size_t(digit)];  // from the largest keys down
    prefix = (prefix << 8) | digit;
  }
  return double(value_of_key(prefix));
}

std::map<std::string, Tensor> final_keep_masks(const std::vector<Tensor>& theta, const std::vector<std::string>& names,
                                               double sparsity, const std::string& rule) {
  torch::NoGradGuard ng;
  LEAP_CHECK(theta.size() == names.size(), "final_keep_masks: %zu logits for %zu names", theta.size(), names.size());
  std::map<std::string, Tensor> keep;
  if (rule != "exact") {
    for (size_t i = 0; i < theta.size(); ++i) keep[names[i]] = theta[i] > 0;
    return keep;
  }
  int64_t total = 0;
  for (const auto& th : theta) total += th.numel();
  const int64_t keep_n = total - int64_t(double(total) * sparsity);
  const double thresh = kth_largest(theta, keep_n);
  int64_t above = 0;
  for (const auto& th : theta) above += (th > thresh).sum().item<int64_t>();
  int64_t ties_to_keep = keep_n - above;
  for (size_t i = 0; i < theta.size(); ++i) {
    const Tensor& th = theta[i];
    Tensor k = th > thresh;
    if (ties_to_keep > 0) {
      Tensor tie = (th == thresh).flatten();
      Tensor idx = tie.nonzero().flatten();
      if (idx.numel() > 0) {
        idx = idx.slice(0, 0, ties_to_keep);
        k.view({-1}).index_fill_(0, idx, true);
        ties_to_keep -= idx.numel();
      }
    }
    keep[names[i]] = k;
  }
  return keep;
}

}  // namespace leap
