// The device-resident mask path (model/device_mask.h) on the CPU, where it runs the CPU's fused loops
// (the same element functions as the CUDA kernels): its sample and gradient equal the host path's on
// the same noise, its masked linear's gradients equal autograd on the plain formula and finite
// differences, and a LEAP run on it equals the host path's run. The kernels run in tests/cuda.
#include "io/model_path.h"
#include "leap/trainer.h"
#include "model/device_mask.h"
#include "model/mask.h"
#include "model/mask_kernel.h"
#include "model/model.h"
#include "test_util.h"

namespace leap {
namespace {

// The fused CPU path's M for the same θ, W and seed (mask.h) is the device path's M: W ⊙ M and the
// statistics agree; a bfloat16 θ gives the bfloat16-rounded M on both.
TEST(DeviceMask, SampleEqualsTheFusedCpuSampleOnTheSameNoise) {
  torch::manual_seed(3);
  torch::Tensor w = torch::randn({37, 129});
  for (torch::Dtype dt : {torch::kFloat32, torch::kBFloat16}) {
    torch::Tensor theta = (torch::randn({37, 129}) * 0.03).to(dt);
    const double kappa = 120.0, tau = 1.3;
    const uint64_t seed = 77;
    MaskSample ref = sample_mask(theta, w, kappa, tau, seed);
    DeviceMaskSample s = sample_device_mask(theta, w, torch::kFloat32, kappa, tau, seed);
    ASSERT_EQ(s.WM.scalar_type(), torch::kFloat32);
    torch::Tensor ref_wm = ref.M.to(torch::kFloat32) * w;
    EXPECT_TRUE(test::allclose(s.WM, ref_wm, 1e-6)) << c10::toString(dt);
    ASSERT_EQ(s.stats.scalar_type(), torch::kFloat64);
    EXPECT_NEAR(s.stats[0].item<double>(), ref.sum, 1e-4 * ref.sum) << "sum M";
    EXPECT_NEAR(std::sqrt(s.stats[1].item<double>()), ref.wnorm, 1e-5 * ref.wnorm) << "norm of M * W";
    // the product in another compute dtype is the float32 product rounded once
    DeviceMaskSample sb = sample_device_mask(theta, w, torch::kBFloat16, kappa, tau, seed);
    EXPECT_TRUE(torch::equal(sb.WM, s.WM.to(torch::kBFloat16)));
    EXPECT_FALSE(torch::equal(sample_device_mask(theta, w, torch::kFloat32, kappa, tau, seed + 1).WM, s.WM));
  }
}

// The gradient with M re-derived from θ and the noise equals the fused path's from the stored M, with
// the regulariser's coefficients read from a tensor.
TEST(DeviceMask, GradientEqualsTheFusedCpuGradient) {
  torch::manual_seed(4);
  torch::Tensor theta = torch::randn({33, 70}) * 0.03, w = torch::randn({33, 70}), g = torch::randn({33, 70});
  const double kappa = 60.0, tau = 2.0, g_sum = 0.25, g_w2 = -0.03;
  const uint64_t seed = 5;
  MaskSample ref = sample_mask(theta, w, kappa, tau, seed);
  torch::Tensor want = mask_logit_grad(g.clone(), ref.M, w, kappa / tau, g_sum, g_w2);
  torch::Tensor coef = torch::tensor({float(g_sum), float(g_w2)});
  torch::Tensor got = device_mask_logit_grad(g.clone(), theta, w, coef, kappa, tau, seed);
  ASSERT_EQ(got.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(test::allclose(got, want, 1e-5 * want.abs().max().item<double>()));
  // a bfloat16 output gradient (the CUDA autocast case) is read as float32
  torch::Tensor gb = g.to(torch::kBFloat16);
  torch::Tensor want_b = mask_logit_grad(gb.to(torch::kFloat32), ref.M, w, kappa / tau, g_sum, g_w2);
  EXPECT_TRUE(test::allclose(device_mask_logit_grad(gb, theta, w, coef, kappa, tau, seed), want_b,
                             1e-5 * want_b.abs().max().item<double>()));
  // shapes are checked
  EXPECT_NE(test::error_of([&] { device_mask_logit_grad(g.clone(), theta, w, torch::zeros({3}), kappa, tau, seed); }),
            "<no error>");
}

// The masked linear on this path: output, dL/dx and dL/dθ (with the regulariser's coefficients)
// against autograd through M = σ((κθ + log u − log(1−u))/τ) with the path's own uniforms, then θ's
// gradient against finite differences.
TEST(DeviceMask, MaskedLinearGradientsEqualAutogradAndFiniteDifferences) {
  torch::manual_seed(5);
  const int64_t out = 6, in = 10;
  torch::Tensor x = torch::randn({2, 3, in}).requires_grad_(true);
  torch::Tensor w = torch::randn({out, in});
  torch::Tensor theta = torch::randn({out, in}) * 0.05;
  torch::Tensor leaf = torch::zeros({out, in}).requires_grad_(true);  // receives dL/dθ
  const double kappa = 20.0, tau = 1.5, a = 0.3, c = -0.2;
  const uint64_t seed = 9;
  std::vector<float> u(size_t(out * in));
  for (int64_t i = 0; i < out * in; ++i) u[size_t(i)] = kernel::uniform_at(seed, i);
  torch::Tensor U = torch::from_blob(u.data(), {out, in}, torch::kFloat32).to(torch::kFloat64);
  auto M_of = [&](const torch::Tensor& th) {
    return torch::sigmoid((kappa * th + torch::log(U) - torch::log1p(-U)) / tau);
  };
  torch::Tensor th64 = theta.to(torch::kFloat64).requires_grad_(true);
  torch::Tensor M64 = M_of(th64);
  const double r = (M64 * w.to(torch::kFloat64)).norm().item<double>();

  DeviceMaskSample s = sample_device_mask(theta, w, torch::kFloat32, kappa, tau, seed);
  LinearMask m;
  m.WM = s.WM, m.logits = theta, m.theta = leaf, m.kappa = kappa, m.tau = tau, m.seed = seed, m.scale = kappa / tau;
  m.coef = torch::tensor({float(a), float(c / r)});
  torch::Tensor y1 = masked_linear(x, w, m, torch::Tensor());
  torch::Tensor gy = torch::randn(y1.sizes());
  auto g1 = torch::autograd::grad({y1}, {x, leaf}, {gy});

  torch::Tensor x64 = x.detach().to(torch::kFloat64).requires_grad_(true), w64 = w.to(torch::kFloat64);
  torch::Tensor y2 = torch::matmul(x64, (w64 * M64).t());
  torch::Tensor loss2 = (y2 * gy.to(torch::kFloat64)).sum() + a * M64.sum() + c * (M64 * w64).norm();
  auto g2 = torch::autograd::grad({loss2}, {x64, th64});
  EXPECT_TRUE(test::allclose(y1, y2, 1e-5));
  EXPECT_TRUE(test::allclose(g1[0], g2[0], 1e-5));
  EXPECT_TRUE(test::allclose(g1[1], g2[1], 1e-4 * g2[1].abs().max().item<double>()));
  auto f = [&](const torch::Tensor& th) {
    torch::Tensor Mt = M_of(th);
    return (torch::matmul(x64.detach(), (w64 * Mt).t()) * gy.to(torch::kFloat64)).sum() + a * Mt.sum() +
           c * (Mt * w64).norm();
  };
  EXPECT_TRUE(test::allclose(g1[1], test::finite_difference(f, th64.detach(), 1e-6), 1e-4));
  // adding into a gradient (the optimizer's bucket) instead: the same dL/dθ lands there, on top of
  // what it held, autograd carries none to the leaf, and the readiness callback runs once
  int calls = 0;
  const std::function<void()> ready = [&] { ++calls; };
  m.grad = torch::ones({out, in});
  m.grad_ready = &ready;
  torch::Tensor y4 = masked_linear(x, w, m, torch::Tensor());
  auto g4 = torch::autograd::grad({y4}, {x, leaf}, {gy}, std::nullopt, false, /*allow_unused=*/true);
  EXPECT_TRUE(test::allclose(g4[0], g2[0], 1e-5));
  EXPECT_FALSE(g4[1].defined());
  EXPECT_TRUE(test::allclose(m.grad - 1, g2[1], 1e-4 * g2[1].abs().max().item<double>()));
  EXPECT_EQ(calls, 1);
  // forward only (no θ leaf): the same output
  m.theta = torch::Tensor();
  EXPECT_TRUE(test::allclose(masked_linear(x, w, m, torch::Tensor()), y2, 1e-5));
}

// A LEAP run on the device path (--mask_path device, here on the CPU's fused loops) trains as the host
// path does: the same noise, the same regulariser (on tensors instead of doubles), sums read once per
// step, M drawn again in backward. θ agrees to rounding after 4 steps (measured: exactly) and the final
// masks are the same.
TEST(DeviceMask, LeapRunOnTheDevicePathEqualsTheHostPath) {
  const std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  TrainOptions o = test::tiny_train_options(4);
  o.log_every = 1;
  o.mask_path = "host";
  CausalLM a = load_model(dir, {});
  LeapResult host = train_leap(
      a, *tok, [&] { return prior; }, o);
  o.mask_path = "device";
  CausalLM b = load_model(dir, {});
  LeapResult dev = train_leap(
      b, *tok, [&] { return prior; }, o);
  ASSERT_TRUE(dev.finished);
  double worst = 0;
  for (size_t i = 0; i < host.theta.size(); ++i)
    worst = std::max(worst, (host.theta[i] - dev.theta[i]).abs().max().item<double>());
  std::printf("[ device path ] max |theta_device - theta_host| after 4 steps: %.3g\n", worst);
  EXPECT_LT(worst, 1e-6);  // the same loops, noise and coefficients: equal but for the order of float sums
  int64_t same = 0, n = 0;
  for (const auto& [name, k] : host.keep) same += (k == dev.keep.at(name)).sum().item<int64_t>(), n += k.numel();
  EXPECT_EQ(same, n);
  const double ce_host = host.summary["first_step_ce"].get<double>(),
               ce_dev = dev.summary["first_step_ce"].get<double>();
  EXPECT_NEAR(ce_dev, ce_host, 1e-5 * ce_host);
  EXPECT_NEAR(dev.summary["last_step_ce"].get<double>(), host.summary["last_step_ce"].get<double>(), 1e-4);
  // an unknown path is refused
  o.mask_path = "gpu";
  CausalLM c = load_model(dir, {});
  EXPECT_NE(test::error_of([&] {
              train_leap(
                  c, *tok, [&] { return prior; }, o);
            }).find("--mask_path"),
            std::string::npos);
}

}  // namespace
}  // namespace leap
