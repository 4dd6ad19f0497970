// The fused cross-entropy loop (model/loss_kernel.h) against LibTorch's log_softmax / softmax on
// rows of a real vocabulary's width (49157: no multiple of any vector width or block), with
// ordinary, wide-spread and peaked logits and targets at the row's maximum, minimum and elsewhere.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/loss_kernel.h"

namespace leap {
namespace {

TEST(LossKernel, RowsEqualLogSoftmaxAndTheirGradient) {
  torch::manual_seed(0);
  const int64_t R = 6, V = 49157;
  torch::Tensor z = torch::randn({R, V}) * 3;
  z[1] = z[1] * 300;  // spread over ±3000: most exp arguments far below the clamp at −80
  z[2][77] = 60;      // one peaked logit
  torch::Tensor tgt = torch::randint(0, V, {R}, torch::kInt64);
  tgt[0] = z[0].argmax().item<int64_t>();
  tgt[1] = z[1].argmin().item<int64_t>();
  tgt[2] = 77;
  tgt[3] = V - 1;
  torch::Tensor lp = torch::log_softmax(z.to(torch::kFloat64), 1);
  torch::Tensor nll_ref = -lp.gather(1, tgt.unsqueeze(1)).squeeze(1);
  const double scale = 1.0 / 3.0;
  torch::Tensor g_ref = (lp.exp() - torch::one_hot(tgt, V).to(torch::kFloat64)) * scale;

  torch::Tensor zc = z.clone();
  const double no_grad = kernel::softmax_xent_rows(zc.data_ptr<float>(), tgt.data_ptr<int64_t>(), 0, R, V, 0.0f);
  EXPECT_TRUE(torch::equal(zc, z)) << "without a gradient the logits stay as they were";
  double got = 0;
  for (int64_t r = 0; r < R; ++r) {
    const double row =
        kernel::softmax_xent_rows(zc.data_ptr<float>(), tgt.data_ptr<int64_t>(), r, r + 1, V, float(scale));
    const double ref = nll_ref[r].item<double>();
    EXPECT_NEAR(row, ref, 1e-5 * std::max(1.0, std::abs(ref))) << "row " << r;
    got += row;
  }
  EXPECT_NEAR(no_grad, got, 1e-9 * std::abs(got)) << "the sum over rows equals the rows' values";
  const double gdiff = (zc.to(torch::kFloat64) - g_ref).abs().max().item<double>();
  std::printf("[ loss kernel ] nll sum %.6f vs %.6f; gradient max |diff| = %.3g (tolerance %.3g)\n", got,
              nll_ref.sum().item<double>(), gdiff, 1e-6 * scale);
  EXPECT_LT(gdiff, 1e-6 * scale);
  // the gradient rows sum to zero (softmax sums to one) and the target's entry is p_t − 1
  EXPECT_LT(zc.to(torch::kFloat64).sum(1).abs().max().item<double>(), 1e-5 * scale);
  EXPECT_NEAR(zc[2][77].item<double>(), g_ref[2][77].item<double>(), 1e-6 * scale);
}

}  // namespace
}  // namespace leap
