// test_layerwise.cpp — the block-by-block flow of the layer-wise methods (src/prune/layerwise.h):
// its phase times (forward passes, statistics, solve) are filled for every method, are zero where a
// method has no such phase (magnitude reads no calibration data), and account for no more than the
// call's own wall time; and the keep masks the methods select (per row, whole tensor), found by
// selection, equal those of the stable sort they replaced, ties and NaN included. What each method
// computes is tested against its reference in parity/test_prune.cpp.
#include <gtest/gtest.h>

#include "base/progress.h"
#include "io/model_path.h"
#include "model/model.h"
#include "prune/sparsity_pattern.h"
#include "test_util.h"

namespace leap {
namespace {

// The previous implementation: a stable ascending sort, the first k pruned.
torch::Tensor sorted_keep(const torch::Tensor& score, int64_t k, int64_t dim) {
  torch::Tensor idx = std::get<1>(score.sort(/*stable=*/true, dim, /*descending=*/false)).narrow(dim, 0, k);
  return torch::ones_like(score, torch::kBool).scatter(dim, idx, false);
}

TEST(Layerwise, SelectedMasksEqualTheStableSort) {
  torch::manual_seed(0);
  const torch::Tensor smooth = torch::randn({37, 64});
  const torch::Tensor ties = torch::randint(0, 5, {37, 64}).to(torch::kFloat32);  // many equal values
  torch::Tensor nan = torch::randn({37, 64});
  nan.index_put_({torch::rand({37, 64}) < 0.6}, std::numeric_limits<float>::quiet_NaN());  // NaN sorts last
  torch::Tensor inf = smooth.clone();
  inf.index_put_({torch::rand({37, 64}) < 0.3}, std::numeric_limits<float>::infinity());
  for (const torch::Tensor& score : {smooth, ties, nan, inf})
    for (double s : {0.0, 0.01, 0.25, 0.5, 0.6, 0.99}) {
      SCOPED_TRACE(s);
      const int64_t k_row = int64_t(double(score.size(1)) * s), k_all = int64_t(double(score.numel()) * s);
      const torch::Tensor row = keep_mask_per_row(score, s), all = keep_mask_global(score, s);
      EXPECT_TRUE(torch::equal(row, k_row ? sorted_keep(score, k_row, 1) : torch::ones_like(row)));
      EXPECT_TRUE(torch::equal(all, k_all ? sorted_keep(score.flatten(), k_all, 0).view(score.sizes())
                                          : torch::ones_like(all)));
      EXPECT_EQ(all.numel() - all.sum().item<int64_t>(), k_all);
    }
}

TEST(Layerwise, PhaseTimesCoverEachMethodsPhases) {
  const std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  CalibData c = load_calibration(*tok, test::source_dir() + "/data/tinystories/train.txt", 8, 128, 0);
  for (const char* method : {"magnitude", "wanda", "sparsegpt", "admm"}) {
    SCOPED_TRACE(method);
    CausalLM m = load_model(dir, {});
    LayerwiseTimes t;
    t.forward_s = t.statistics_s = t.solve_s = -1;  // every field must be written
    LayerwiseOptions lo;
    lo.method = method;
    lo.times = &t;
    Stopwatch wall;
    prune_layerwise(m, c.ids, lo);
    const double seconds = wall.seconds();
    EXPECT_GT(t.solve_s, 0);
    if (std::string(method) == "magnitude") {
      EXPECT_EQ(t.forward_s, 0);
      EXPECT_EQ(t.statistics_s, 0);
    } else {
      EXPECT_GT(t.forward_s, 0);
      EXPECT_GT(t.statistics_s, 0);
    }
    EXPECT_LE(t.forward_s + t.statistics_s + t.solve_s, seconds);
  }
}

}  // namespace
}  // namespace leap
