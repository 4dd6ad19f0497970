// The final hard mask: the radix-select k-th value against a full sort, and the exact global
// budget with ties (docs/METHOD.md §1.7).
#include <gtest/gtest.h>
#include <limits>

#include "leap/final_mask.h"

namespace leap {
namespace {
using torch::Tensor;

double kth_by_sort(const std::vector<Tensor>& xs, int64_t k) {
  std::vector<Tensor> flat;
  for (const auto& x : xs) flat.push_back(x.flatten());
  Tensor sorted = std::get<0>(torch::cat(flat).sort(true, 0, true));
  return sorted[k - 1].item<double>();
}

TEST(FinalMask, KthLargestEqualsTheSortedValue) {
  torch::manual_seed(3);
  // mixed signs and magnitudes, repeated values, ±0, a tiny and an empty tensor
  std::vector<Tensor> xs = {torch::randn({64, 33}),
                            torch::randn({7}) * 1e-30,
                            torch::zeros({5}),
                            -torch::zeros({4}),
                            torch::randint(-3, 4, {50}).to(torch::kFloat32),
                            torch::empty({0}),
                            torch::randn({300}) * 1e20};
  int64_t total = 0;
  for (const auto& x : xs) total += x.numel();
  for (int64_t k : {int64_t(1), int64_t(2), int64_t(17), total / 3, total / 2, total - 5, total - 1, total})
    EXPECT_EQ(kth_largest(xs, k), kth_by_sort(xs, k)) << "k = " << k;
  EXPECT_EQ(kth_largest(xs, 0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(kth_largest(xs, total + 1), -std::numeric_limits<double>::infinity());
}

TEST(FinalMask, ExactBudgetKeepsTheTopKWithEarliestTies) {
  // θ with heavy ties: the kept count is exact and ties go to the earliest positions
  std::vector<Tensor> theta = {torch::tensor({1.f, 0.5f, 0.5f, -1.f}).view({2, 2}), torch::tensor({0.5f, 0.5f, 2.f})};
  std::vector<std::string> names = {"a", "b"};
  auto keep = final_keep_masks(theta, names, 3.0 / 7.0, "exact");  // keep 7 − floor(7·3/7) = 4
  EXPECT_TRUE(torch::equal(keep["a"], torch::tensor({true, true, true, false}).view({2, 2})));
  EXPECT_TRUE(torch::equal(keep["b"], torch::tensor({false, false, true})));
  torch::manual_seed(4);
  std::vector<Tensor> big = {torch::randn({128, 64}), torch::randn({64, 128})};
  for (double s : {0.0, 0.3, 0.5, 0.9, 1.0}) {
    auto k = final_keep_masks(big, names, s, "exact");
    const int64_t kept = k["a"].sum().item<int64_t>() + k["b"].sum().item<int64_t>();
    EXPECT_EQ(kept, 16384 - int64_t(16384.0 * s)) << "sparsity " << s;
  }
  auto t = final_keep_masks(big, names, 0.5, "threshold");
  EXPECT_TRUE(torch::equal(t["a"], big[0] > 0));
}

}  // namespace
}  // namespace leap
