// --optim adamw_8bit against torchao's AdamW8bit (tests/python/make_adamw8bit_fixtures.py): the
// same quantization maps value for value, and six steps from the same parameters and gradients
// give the same parameters (within float32 rounding, relative to how far θ moved: the gradients span
// six orders of magnitude inside a block and change from step to step, so v's small entries round to
// zero and some θ move by several units — torchao's behaviour too) and the same moment codes (a code may differ by one
// where the two round a value on a boundary differently) with the same block scales.
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "leap/adamw_8bit.h"
#include "test_util.h"

namespace leap {
namespace {
using torch::Tensor;

TEST(Adam8bitParity, EqualsTorchaoAdamW8bit) {
  st::Reader f(test::fixtures_dir() + "/adamw8bit/adamw8bit.safetensors");
  auto get = [&](const std::string& k) { return read_tensor(f, k).clone(); };
  EXPECT_TRUE(torch::equal(dynamic_qmap(true), get("qmap_signed")));
  EXPECT_TRUE(torch::equal(dynamic_qmap(false), get("qmap_unsigned")));
  const int steps = 6;
  for (int i = 0; i < 3; ++i) {
    Tensor p = get("theta0." + std::to_string(i));
    const int64_t n = p.numel();
    Moment8bit m = Moment8bit::zeros(n, true, torch::kCPU), v = Moment8bit::zeros(n, false, torch::kCPU);
    const Tensor p0 = p.clone();
    double max_dp = 0;
    for (int t = 1; t <= steps; ++t) {
      adamw_8bit_step(p, get("grad" + std::to_string(t) + "." + std::to_string(i)), m, v,
                      {1e-3, 0.9, 0.95, 0.1, 1e-8, t});
      const Tensor want = get("theta" + std::to_string(t) + "." + std::to_string(i));
      max_dp = std::max(max_dp, (p - want).abs().max().item<double>());
    }
    const double moved = (p - p0).abs().max().item<double>();
    EXPECT_LE(max_dp, 1e-6 * (1.0 + moved)) << "parameter " << i << ", moved by up to " << moved;
    int max_dc = 0;
    int64_t differ = 0;
    for (auto [mine, name] : {std::pair{&m, "exp_avg"}, std::pair{&v, "exp_avg_sq"}}) {
      const Tensor dc =
          (mine->codes.to(torch::kInt32) - get(std::string(name) + "_codes." + std::to_string(i)).to(torch::kInt32))
              .abs();
      max_dc = std::max(max_dc, dc.max().item<int>());
      differ += dc.ne(0).sum().item<int64_t>();
      const Tensor want_scale = get(std::string(name) + "_scale." + std::to_string(i));
      EXPECT_LE(((mine->scale - want_scale).abs() / want_scale).max().item<double>(), 1e-5) << name << " " << i;
    }
    std::printf(
        "parameter %d (%lld values): max |dθ| %.2e (θ moved by up to %.3g), codes differing %lld of %lld "
        "(max by %d)\n",
        i, (long long)n, max_dp, moved, (long long)differ, (long long)(2 * n), max_dc);
    EXPECT_LE(max_dc, 1);
    EXPECT_LE(differ, 2 * n / 1000);
  }
}

}  // namespace
}  // namespace leap
