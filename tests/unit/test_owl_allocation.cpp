// OWL's allocation rule (prune/owl.h) on hand-computed ratios; the statistics themselves are
// compared with llm-compressor in tests/parity/test_owl.cpp.
#include "prune/owl.h"
#include "test_util.h"

namespace leap {
namespace {

TEST(OwlAllocation, MoreOutliersLessSparsityMeanAtTheTarget) {
  // D = [0, 1, 2] → D' = [0, 0.1, 0.2] (2λ = 0.2), mean 0.1 → s = 0.5 + 0.1 − D'
  const std::vector<double> s = owl_sparsities({0.0, 1.0, 2.0}, 0.5, 0.1);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_NEAR(s[0], 0.6, 1e-12);
  EXPECT_NEAR(s[1], 0.5, 1e-12);
  EXPECT_NEAR(s[2], 0.4, 1e-12);
  // skewed ratios: the span stays 2λ, centred on the mean, not on s
  const std::vector<double> k = owl_sparsities({0.0, 0.0, 0.0, 4.0}, 0.6, 0.05);
  EXPECT_NEAR(k[0], 0.625, 1e-12);
  EXPECT_NEAR(k[3], 0.525, 1e-12);
  EXPECT_NEAR((k[0] + k[1] + k[2] + k[3]) / 4, 0.6, 1e-12);
  // ratios that cannot tell the blocks apart: the target everywhere (llm-compressor divides by 0)
  EXPECT_EQ(owl_sparsities({1.5, 1.5}, 0.7, 0.08), (std::vector<double>{0.7, 0.7}));
}

}  // namespace
}  // namespace leap
