// LEAP's pieces and a short end-to-end run: the masked linear's forward and θ-gradient against
// autograd on the plain formula (double precision), the Gumbel-sigmoid's mean, the schedules,
// the prior's reproduction of the Wanda mask, the loss terms' gradients, determinism, and a
// training run on stories260k that lowers the loss and lands exactly on the budget.
#include <ATen/autocast_mode.h>
#include <thread>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/progress.h"
#include "io/model_path.h"
#include "leap/trainer.h"
#include "model/device.h"
#include "model/grad_checkpoint.h"
#include "model/mask.h"
#include "model/mask_kernel.h"
#include "model/model.h"
#include "options.h"
#include "prune/calibration.h"
#include "prune/layerwise.h"
#include "test_util.h"

namespace leap {
namespace {

// The masked linear's hand-written θ gradient (CE part and the regulariser's scalars folded in)
// against autograd on the plain formula, in float64 (composite path), then a finite-difference check.
TEST(Mask, MaskedLinearForwardAndGradientsMatchPlainAutograd) {
  auto opt = torch::TensorOptions().dtype(torch::kFloat64);
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({2, 5, 6}, opt).requires_grad_(true);
  torch::Tensor w = torch::randn({4, 6}, opt);
  torch::Tensor b = torch::randn({4}, opt).requires_grad_(true);
  torch::Tensor theta = (torch::randn({4, 6}, opt) * 0.05).requires_grad_(true);
  torch::Tensor L = torch::logit(torch::rand({4, 6}, opt) * 0.98 + 0.01);  // logistic noise
  const double kappa = 25.0, tau = 1.5, a = 0.3, c = -0.7;
  auto M_of = [&](const torch::Tensor& th) { return torch::sigmoid((kappa * th + L) / tau); };
  torch::Tensor M = M_of(theta).detach();
  const double r = (M * w).norm().item<double>();
  LinearMask lm{M, theta, kappa / tau, a, c / r};
  torch::Tensor y1 = masked_linear(x, w, lm, b);
  torch::Tensor gy = torch::randn(y1.sizes(), opt);
  auto g1 = torch::autograd::grad({y1}, {x, theta, b}, {gy});
  torch::Tensor M2 = M_of(theta);
  torch::Tensor y2 = torch::matmul(x, (w * M2).t()) + b;  // the plain formula, regulariser terms added
  torch::Tensor loss2 = (y2 * gy).sum() + a * M2.sum() + c * (M2 * w).norm();
  auto g2 = torch::autograd::grad({loss2}, {x, theta, b});
  EXPECT_TRUE(test::allclose(y1, y2, 1e-12));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(test::allclose(g1[i], g2[i], 1e-12)) << "gradient " << i;
  // finite differences on θ of Σ gy·y + a ΣM + c ‖M⊙W‖
  auto f = [&](const torch::Tensor& th) {
    torch::Tensor Mt = M_of(th);
    return ((torch::matmul(x.detach(), (w * Mt).t()) + b.detach()) * gy).sum() + a * Mt.sum() + c * (Mt * w).norm();
  };
  EXPECT_TRUE(test::allclose(g1[1], test::finite_difference(f, theta, 1e-6), 1e-5));
  // forward only (no θ): the same output, no θ gradient
  torch::Tensor y3 = masked_linear(x, w, LinearMask{M, torch::Tensor()}, b);
  EXPECT_TRUE(test::allclose(y3, y2, 1e-12));
}

// CPU bf16 autocast for a scope (the trainer uses CUDA's; the CPU one exercises the same code).
struct CpuAutocast {
  CpuAutocast() {
    at::autocast::set_autocast_enabled(at::kCPU, true);
    at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  }
  ~CpuAutocast() {
    at::autocast::set_autocast_enabled(at::kCPU, false);
    at::autocast::clear_cache();
  }
};

// Under autocast the masked linear computes as autocast's own linear would (bf16 operands), and its
// backward, which the engine runs with autocast off, in the same dtype: gradients equal autograd
// through autocast's plain formula (float32 operands, bf16 products; a float32 output gradient
// meeting bf16 operands used to end the backward with a dtype error).
TEST(Mask, MaskedLinearUnderAutocastComputesForwardAndBackwardInItsDtype) {
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({2, 5, 64}).requires_grad_(true);
  torch::Tensor w = torch::randn({32, 64});
  torch::Tensor theta = (torch::randn({32, 64}) * 0.05).requires_grad_(true);
  torch::Tensor L = torch::logit(torch::rand({32, 64}) * 0.98 + 0.01);
  const double kappa = 25.0, tau = 1.5, a = 0.3, c = -0.7;
  auto M_of = [&](const torch::Tensor& th) { return torch::sigmoid((kappa * th + L) / tau); };
  torch::Tensor M = M_of(theta).detach();
  const double r = (M * w).norm().item<double>();
  torch::Tensor y1, y2, M2;
  {
    CpuAutocast ac;
    y1 = masked_linear(x, w, LinearMask{M, theta, kappa / tau, a, c / r}, torch::Tensor());
    M2 = M_of(theta);
    y2 = torch::matmul(x, (w * M2).t());  // autocast casts both operands
  }
  ASSERT_EQ(y1.scalar_type(), torch::kBFloat16);
  ASSERT_EQ(y2.scalar_type(), torch::kBFloat16);
  // the same bf16 GEMMs as autocast's (a backward in float32 would differ by bf16 rounding, ~2e-3 of
  // the largest value); θ's gradient adds float32 terms in another order
  auto tol = [](const torch::Tensor& t, double rel) { return rel * t.abs().max().item<double>(); };
  EXPECT_TRUE(test::allclose(y1, y2, tol(y2, 2e-4)));
  torch::Tensor gy = torch::randn(y1.sizes()).to(torch::kBFloat16);
  auto g1 = torch::autograd::grad({y1}, {x, theta}, {gy});
  torch::Tensor loss2 = (y2 * gy).sum().to(torch::kFloat32) + a * M2.sum() + c * (M2 * w).norm();
  auto g2 = torch::autograd::grad({loss2}, {x, theta});
  EXPECT_EQ(g1[0].scalar_type(), torch::kFloat32);  // the engine casts dL/dx back to x's dtype
  EXPECT_TRUE(test::allclose(g1[0], g2[0], tol(g2[0], 2e-4)));
  EXPECT_TRUE(test::allclose(g1[1], g2[1], tol(g2[1], 1e-4)));
}

// A recomputed block re-runs under the forward's autocast state, so its θ gradients equal those
// of the block run without recomputation (autocast is off when backward runs, as on CUDA's
// backward thread; a re-run in float32 differs by bf16 rounding, ~1e-2 relative).
TEST(Mask, RecomputedBlockUnderAutocastEqualsThePlainBlock) {
  CausalLM m = load_model(resolve_model("stories260k").dir, {});
  torch::manual_seed(0);
  torch::Tensor ids = torch::randint(1, 500, {2, 32}, torch::kInt64);
  auto rope = m->rope(32);
  torch::Tensor h = m->embed(ids).detach();
  auto linears = m->block_linears(0);
  std::vector<LinearMask> masks;
  std::vector<torch::Tensor> thetas;
  for (size_t i = 0; i < linears.size(); ++i) {
    const torch::Tensor& w = linears[i].linear->weight;
    thetas.push_back((torch::randn(w.sizes()) * 0.05).requires_grad_(true));
    MaskSample s = sample_mask(thetas.back(), w, 25.0, 1.5, 7 + i);
    masks.push_back(LinearMask{s.M, thetas.back(), 25.0 / 1.5});
  }
  auto theta_grads = [&](bool recompute) {
    torch::Tensor out;
    {
      CpuAutocast ac;
      if (recompute) {
        out = recomputed_block(*m, 0, h, masks, rope);
      } else {
        for (size_t i = 0; i < linears.size(); ++i) linears[i].linear->mask = masks[i];
        out = m->run_layer(0, h, rope);
        for (auto& l : linears) l.linear->mask = LinearMask();
      }
    }
    torch::manual_seed(1);
    torch::Tensor gy = torch::randn(out.sizes()).to(out.scalar_type());
    auto g = torch::autograd::grad({out}, thetas, {gy});
    release_recomputed_blocks();
    return g;
  };
  auto plain = theta_grads(false), recomputed = theta_grads(true);
  for (size_t i = 0; i < plain.size(); ++i)
    EXPECT_TRUE(test::allclose(recomputed[i], plain[i], 1e-6 * plain[i].abs().max().item<double>())) << linears[i].name;
}

// The fused CPU loop (float32 and bfloat16 mask state) against the composite ops.
TEST(Mask, FusedLogitGradientEqualsCompositeOps) {
  torch::manual_seed(3);
  const int64_t R = 61, C = 129;
  torch::Tensor g = torch::randn({R, C}), w = torch::randn({R, C}), M = torch::rand({R, C});
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    torch::Tensor Md = M.to(dt);
    torch::Tensor ref = mask_logit_grad(g.clone(), Md, w, 40.0, 1e-3, -0.2, /*fused=*/false);
    torch::Tensor got = mask_logit_grad(g.clone(), Md, w, 40.0, 1e-3, -0.2);
    EXPECT_EQ(got.scalar_type(), torch::kFloat32);  // accumulated in float32 whatever θ's dtype
    const double tol = 1e-5;
    EXPECT_TRUE(test::allclose(got.to(torch::kFloat32), ref.to(torch::kFloat32), tol * ref.abs().max().item<double>()))
        << c10::toString(dt);
  }
}

// The fused sampler's W ⊙ M (with_product) is the product of the stored M and W, with unchanged
// statistics; a masked linear that uses it and adds dL/dθ into a gradient itself gives what the plain
// path gives (its output, dL/dx, and dL/dθ on top of what the gradient held), carries no θ gradient
// through autograd and calls the readiness callback once; the composite gradient adds the same way.
TEST(Mask, SamplerProductAndGradientAddedIntoTheBucketEqualThePlainPath) {
  torch::manual_seed(6);
  const int64_t out = 24, in = 40;
  torch::Tensor w = torch::randn({out, in}), x = torch::randn({3, 5, in}).requires_grad_(true);
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    torch::Tensor theta = (torch::randn({out, in}) * 0.05).to(dt);
    MaskSample plain = sample_mask(theta, w, 30.0, 1.2, 11);
    MaskSample prod = sample_mask(theta, w, 30.0, 1.2, 11, /*with_product=*/true);
    ASSERT_TRUE(prod.WM.defined());
    EXPECT_TRUE(torch::equal(prod.M, plain.M)) << c10::toString(dt);
    EXPECT_TRUE(torch::equal(prod.WM, plain.M.to(torch::kFloat32) * w)) << c10::toString(dt);
    EXPECT_EQ(prod.sum, plain.sum);
    EXPECT_EQ(prod.wnorm, plain.wnorm);
    torch::Tensor leaf = torch::zeros({out, in}).requires_grad_(true);
    LinearMask a{plain.M, leaf, 25.0, 0.01, -0.3};
    torch::Tensor ya = masked_linear(x, w, a, torch::Tensor());
    torch::Tensor gy = torch::randn(ya.sizes());
    auto ga = torch::autograd::grad({ya}, {x, leaf}, {gy});
    int calls = 0;
    const std::function<void()> ready = [&] { ++calls; };
    LinearMask b = a;
    b.WM = prod.WM;
    b.grad = torch::full({out, in}, 0.5);
    b.grad_ready = &ready;
    torch::Tensor yb = masked_linear(x, w, b, torch::Tensor());
    auto gb = torch::autograd::grad({yb}, {x, leaf}, {gy}, std::nullopt, false, /*allow_unused=*/true);
    EXPECT_TRUE(test::allclose(yb, ya, 1e-6)) << c10::toString(dt);
    EXPECT_TRUE(test::allclose(gb[0], ga[0], 1e-6));
    EXPECT_FALSE(gb[1].defined());
    EXPECT_TRUE(test::allclose(b.grad - 0.5, ga[1], 1e-6 * ga[1].abs().max().item<double>())) << c10::toString(dt);
    EXPECT_EQ(calls, 1);
  }
  // the composite gradient adds into a given gradient as well
  torch::Tensor g = torch::randn({out, in}), M = torch::rand({out, in}), into = torch::ones({out, in});
  torch::Tensor ref = mask_logit_grad(g.clone(), M, w, 20.0, 0.1, -0.2, /*fused=*/false);
  torch::Tensor got = mask_logit_grad(g.clone(), M, w, 20.0, 0.1, -0.2, /*fused=*/false, into);
  EXPECT_EQ(got.data_ptr(), into.data_ptr());
  EXPECT_TRUE(test::allclose(into - 1, ref, 1e-6));
}

// flush_cpu_denormals: an underflowing product is 0 with it on, a denormal with it off, on the
// calling thread and on LibTorch's intra-op threads (what a saturated mask's products hit).
TEST(Device, FlushingDenormalsReachesTheIntraOpThreads) {
  auto underflow = [] {
    volatile float a = 1e-30f, b = 1e-10f;
    return a * b;  // 1e-40: a denormal, or 0 flushed
  };
  auto on_threads = [&] {
    std::vector<float> v(size_t(at::get_num_threads()) * 4, -1.0f);
    at::parallel_for(0, int64_t(v.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) v[size_t(i)] = underflow();
    });
    return v;
  };
  if (!flush_cpu_denormals(true)) GTEST_SKIP() << "no flush-to-zero mode on this CPU";
  EXPECT_EQ(underflow(), 0.0f);
  for (float x : on_threads()) EXPECT_EQ(x, 0.0f);
  flush_cpu_denormals(false);
  EXPECT_GT(underflow(), 0.0f);
  for (float x : on_threads()) EXPECT_GT(x, 0.0f);
}

TEST(Mask, GumbelSigmoidIsARelaxedBernoulliOfProbabilitySigmoidKappaTheta) {
  // For any τ, P(M > 1/2) = P(κθ + L > 0) = σ(κθ) exactly (L logistic). The mean of the soft sample
  // at τ = 1 is not σ(κθ) (it is the CDF of a difference of two logistics at κθ); as τ → 0 the
  // sample hardens and its mean tends to σ(κθ). Both are checked within 4 standard errors.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(123);
  const int64_t n = 40000;
  torch::Tensor theta = torch::linspace(-0.1, 0.1, 5, torch::kFloat64).unsqueeze(1).expand({5, n}).contiguous();
  torch::Tensor p = torch::sigmoid(theta.select(1, 0) * 25.0);
  torch::Tensor se = torch::sqrt(p * (1 - p) / double(n));
  for (double tau : {1.0, 0.05}) {
    torch::Tensor M = gumbel_sigmoid(theta, 25.0, tau, gen).to(torch::kFloat64);
    torch::Tensor hard_rate = (M > 0.5).to(torch::kFloat64).mean(1);
    EXPECT_TRUE(torch::all((hard_rate - p).abs() < 4 * se).item<bool>()) << "tau " << tau << ": " << hard_rate << p;
    if (tau == 1.0) {  // strictly inside (0, 1) while soft; at τ = 0.05 float32 saturates
      EXPECT_GT(M.min().item<double>(), 0.0);
      EXPECT_LT(M.max().item<double>(), 1.0);
    }
    if (tau == 0.05) {
      EXPECT_TRUE(torch::all((M.mean(1) - p).abs() < 4 * se + 1e-3).item<bool>()) << M.mean(1) << p;
    }
  }
}

TEST(Mask, FusedSamplerEqualsTheFormulaWithItsNoiseAndItsGradients) {
  // the fused CPU kernel against the plain formula in float64 fed the same uniforms (uniform_at)
  torch::manual_seed(1);
  const int64_t R = 37, C = 53;  // odd sizes: vector remainders
  torch::Tensor theta = torch::randn({R, C}) * 0.02;
  theta.view({-1}).slice(0, 0, 40).mul_(50.0);  // |z| past the ±80 clamp of the exponent
  theta.requires_grad_(true);
  torch::Tensor w = torch::randn({R, C});
  torch::Tensor G = torch::randn({R, C});
  const double kappa = 180.0, tau = 1.7, a = 0.3, b = -0.7;
  const uint64_t seed = 12345;
  MaskSample s = sample_mask(theta, w, kappa, tau, seed);
  EXPECT_FALSE(s.M.requires_grad());
  // L = Σ G⊙W⊙M + a ΣM + b ‖M⊙W‖: dL/d(W⊙M) = G
  torch::Tensor g_fused = mask_logit_grad(G.clone(), s.M, w, kappa / tau, a, b / s.wnorm);

  std::vector<float> u(size_t(R * C));
  for (int64_t i = 0; i < R * C; ++i) u[size_t(i)] = kernel::uniform_at(seed, i);
  torch::Tensor U = torch::from_blob(u.data(), {R, C}, torch::kFloat32).to(torch::kFloat64);
  torch::Tensor th64 = theta.detach().to(torch::kFloat64).requires_grad_(true);
  torch::Tensor M64 = torch::sigmoid((kappa * th64 + torch::log(U) - torch::log1p(-U)) / tau);
  torch::Tensor w64 = w.to(torch::kFloat64);
  torch::Tensor loss64 = (M64 * w64 * G.to(torch::kFloat64)).sum() + a * M64.sum() + b * (M64 * w64).norm();
  torch::Tensor g64 = torch::autograd::grad({loss64}, {th64})[0];
  EXPECT_TRUE(test::allclose(s.M, M64, 2e-6));
  EXPECT_NEAR(s.sum, M64.sum().item<double>(), 1e-3);
  EXPECT_NEAR(s.wnorm, (M64 * w64).norm().item<double>(), 1e-4);
  EXPECT_TRUE(test::allclose(g_fused, g64, 1e-3 * g64.abs().max().item<double>()));
  // the same noise for any thread count, other noise for another seed
  int threads = at::get_num_threads();
  at::set_num_threads(1);
  MaskSample s1 = sample_mask(theta, w, kappa, tau, seed);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(s1.M, s.M));
  EXPECT_EQ(s1.sum, s.sum);  // block-ordered sums: bit-identical
  EXPECT_EQ(s1.wnorm, s.wnorm);
  EXPECT_FALSE(torch::equal(sample_mask(theta, w, kappa, tau, seed + 1).M, s.M));
  // bfloat16 mask state: the same formula rounded to bfloat16, statistics of the rounded M
  MaskSample sb = sample_mask(theta.detach().to(torch::kBFloat16), w, kappa, tau, seed);
  ASSERT_EQ(sb.M.scalar_type(), torch::kBFloat16);
  torch::Tensor M64b = torch::sigmoid(
      (kappa * theta.detach().to(torch::kBFloat16).to(torch::kFloat64) + torch::log(U) - torch::log1p(-U)) / tau);
  EXPECT_TRUE(test::allclose(sb.M.to(torch::kFloat64), M64b, 4e-3));
  EXPECT_NEAR(sb.sum, sb.M.to(torch::kFloat64).sum().item<double>(), 1e-3);
  EXPECT_NEAR(sb.wnorm, (sb.M.to(torch::kFloat64) * w64).norm().item<double>(), 1e-4);
}

TEST(Mask, FusedSamplerIsARelaxedBernoulliOfProbabilitySigmoidKappaTheta) {
  const int64_t n = 40000;
  torch::Tensor theta = torch::linspace(-0.1, 0.1, 5).unsqueeze(1).expand({5, n}).contiguous();
  torch::Tensor w = torch::ones({5, n});
  torch::Tensor p = torch::sigmoid(theta.select(1, 0).to(torch::kFloat64) * 25.0);
  torch::Tensor se = torch::sqrt(p * (1 - p) / double(n));
  for (double tau : {1.0, 0.05}) {
    torch::Tensor M = sample_mask(theta, w, 25.0, tau, 7).M.to(torch::kFloat64);
    torch::Tensor hard_rate = (M > 0.5).to(torch::kFloat64).mean(1);
    EXPECT_TRUE(torch::all((hard_rate - p).abs() < 4 * se).item<bool>()) << "tau " << tau << ": " << hard_rate << p;
  }
  // the uniforms: mean 1/2, variance 1/12, no visible correlation between neighbours
  std::vector<double> u(200000);
  for (size_t i = 0; i < u.size(); ++i) u[i] = kernel::uniform_at(99, int64_t(i));
  torch::Tensor U = torch::tensor(u, torch::kFloat64);
  EXPECT_NEAR(U.mean().item<double>(), 0.5, 4 * std::sqrt(1.0 / 12 / double(u.size())));
  EXPECT_NEAR(U.var().item<double>(), 1.0 / 12, 2e-3);
  double corr = ((U.slice(0, 1) - 0.5) * (U.slice(0, 0, -1) - 0.5)).mean().item<double>() * 12.0;
  EXPECT_LT(std::abs(corr), 4.0 / std::sqrt(double(u.size())));
}

TEST(Mask, Schedules) {
  MaskSchedule s;
  EXPECT_NEAR(s.tau(0, 100), 4.0, 1e-12);
  EXPECT_NEAR(s.tau(50, 100), 2.025, 1e-12);
  EXPECT_NEAR(s.tau(100, 100), 0.05, 1e-12);
  EXPECT_NEAR(s.kappa(0, 100), 25.0, 1e-12);
  EXPECT_NEAR(s.kappa(50, 100), 187.5, 1e-12);
  EXPECT_NEAR(s.kappa(100, 100), 350.0, 1e-12);
  EXPECT_NEAR(s.kappa(200, 100), 350.0, 1e-12);  // clipped
}

TEST(Mask, PriorReproducesWandaMask) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  torch::Tensor keep = torch::rand({256, 512}) > 0.5;
  torch::Tensor theta = init_logits(keep, 0.014, 3.0, gen);
  double agree = ((theta > 0) == keep).to(torch::kFloat64).mean().item<double>();
  // a 3σ split: P(flip) = Φ(−3) ≈ 0.13%
  EXPECT_GT(agree, 1 - 0.0025);
  EXPECT_LT(agree, 1 - 0.0005);
  EXPECT_NEAR(theta.masked_select(keep).mean().item<double>(), 3 * 0.014, 0.003);
}

TEST(Mask, DensityAndWeightTermsGradients) {
  // d = ΣM/N, R = Σ‖M⊙W‖/Σ‖W‖: autograd against hand-computed gradients
  torch::Tensor w = torch::tensor({{3.0, -4.0}, {0.0, 1.0}}, torch::kFloat64);
  torch::Tensor m = torch::tensor({{0.5, 0.25}, {1.0, 0.75}}, torch::kFloat64).requires_grad_(true);
  torch::Tensor d = m.sum() / 4.0;
  torch::Tensor R = (m * w).norm() / w.norm();
  EXPECT_DOUBLE_EQ(d.item<double>(), 0.625);
  double mw = std::sqrt(1.5 * 1.5 + 1.0 * 1.0 + 0.75 * 0.75);
  EXPECT_NEAR(R.item<double>(), mw / std::sqrt(26.0), 1e-15);
  auto gd = torch::autograd::grad({d}, {m}, {}, true)[0];
  EXPECT_TRUE(torch::allclose(gd, torch::full({2, 2}, 0.25, torch::kFloat64)));
  auto gR = torch::autograd::grad({R}, {m})[0];  // ∂R/∂M = M W² / (‖M⊙W‖ ‖W‖)
  torch::Tensor expect = m.detach() * w * w / (mw * std::sqrt(26.0));
  EXPECT_TRUE(torch::allclose(gR, expect, 1e-12, 1e-14));
}

TEST(Leap, DeterministicAndExactBudget) {
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  std::vector<LeapResult> runs;
  for (int r = 0; r < 2; ++r) {
    CausalLM m = load_model(dir, {});
    runs.push_back(train_leap(
        m, *tok, [&] { return prior; }, test::tiny_train_options()));
    auto sp = measure_sparsity(m);
    int64_t z = 0, n = 0;
    for (auto& x : sp) z += x.zeros, n += x.numel;
    EXPECT_EQ(z, n / 2);  // exact final budget
  }
  for (size_t i = 0; i < runs[0].theta.size(); ++i)  // bit-identical mask logits after N steps
    EXPECT_TRUE(torch::equal(runs[0].theta[i], runs[1].theta[i])) << i;
  for (const auto& [name, keep] : runs[0].keep) EXPECT_TRUE(torch::equal(keep, runs[1].keep.at(name))) << name;
}

TEST(Leap, InterruptedAndResumedRunEqualsUninterrupted) {
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  TrainOptions o = test::tiny_train_options();
  o.save_every = 4;
  o.ckpt_dir = test::temp_dir("leap_ckpt_a");
  CausalLM a = load_model(dir, {});
  LeapResult full = train_leap(
      a, *tok, [&] { return prior; }, o);
  ASSERT_TRUE(full.finished);
  // the same run, stopped after 5 steps (a checkpoint is written), then resumed to the end
  o.ckpt_dir = test::temp_dir("leap_ckpt_b");
  o.max_steps_per_run = 5;
  CausalLM b = load_model(dir, {});
  LeapResult part = train_leap(
      b, *tok, [&] { return prior; }, o);
  EXPECT_FALSE(part.finished);
  o.max_steps_per_run = 0;
  o.resume = true;
  CausalLM c = load_model(dir, {});
  bool prior_called = false;
  LeapResult rest = train_leap(
      c, *tok,
      [&] {
        prior_called = true;
        return prior;
      },
      o);
  ASSERT_TRUE(rest.finished);
  EXPECT_FALSE(prior_called);
  for (size_t i = 0; i < full.theta.size(); ++i) EXPECT_TRUE(torch::equal(full.theta[i], rest.theta[i])) << i;
  for (const auto& [name, keep] : full.keep) EXPECT_TRUE(torch::equal(keep, rest.keep.at(name))) << name;
  // a checkpoint of a different run is refused, naming what differs
  CausalLM d = load_model(dir, {});
  EXPECT_THROW(train_leap(
                   d, *tok, [&] { return prior; }, o, TrainContext{0.6}),
               Error);
  const std::vector<std::pair<std::string, std::function<void(TrainOptions&)>>> changes = {
      {"tau_start", [](TrainOptions& x) { x.tau_start = 2.0; }},
      {"sparse_reg", [](TrainOptions& x) { x.sparse_reg = 5.0; }},
      {"micro_batch", [](TrainOptions& x) { x.micro_batch = 2; }},
      {"prior_strength", [](TrainOptions& x) { x.prior_strength = 1.0; }}};
  for (const auto& [name, change] : changes) {
    TrainOptions other = o;
    change(other);
    CausalLM e = load_model(dir, {});
    const std::string err = test::error_of([&] {
      train_leap(
          e, *tok, [&] { return prior; }, other);
    });
    EXPECT_NE(err.find("cannot resume, the run's settings differ"), std::string::npos) << err;
    EXPECT_NE(err.find("- " + name + ": checkpoint"), std::string::npos) << err;
  }
  // the training text is identified by its tokens: a copy elsewhere (another path and mtime, as
  // in a fresh clone) resumes; other text is refused
  const std::string text = read_file(o.train_data), copies = test::temp_dir("leap_text_copies");
  write_file_atomic(copies + "/same.txt", text);
  write_file_atomic(copies + "/other.txt",
                    text.substr(0, text.size() / 2) + " Once upon a time." + text.substr(text.size() / 2));
  {
    TrainOptions same = o;
    same.train_data = copies + "/same.txt";
    same.max_steps_per_run = 1;
    CausalLM e = load_model(dir, {});
    EXPECT_NO_THROW(train_leap(
        e, *tok, [&] { return prior; }, same));
    TrainOptions other = o;
    other.train_data = copies + "/other.txt";
    CausalLM f = load_model(dir, {});
    const std::string err = test::error_of([&] {
      train_leap(
          f, *tok, [&] { return prior; }, other);
    });
    EXPECT_NE(err.find("- train_data: checkpoint"), std::string::npos) << err;
  }
  // where checkpoints go, logging and memory-only settings may change between the runs
  TrainOptions other = o;
  other.log_every = 3;
  other.grad_checkpoint = true;
  other.bucket_mib = 1.0;
  other.max_steps_per_run = 1;
  CausalLM f = load_model(dir, {});
  EXPECT_NO_THROW(train_leap(
      f, *tok, [&] { return prior; }, other));
}

TEST(Leap, GradientCheckpointingGivesTheSameTraining) {
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  TrainOptions o = test::tiny_train_options();
  o.steps = 4;
  CausalLM a = load_model(dir, {});
  LeapResult plain = train_leap(
      a, *tok, [&] { return prior; }, o);
  o.grad_checkpoint = true;
  CausalLM b = load_model(dir, {});
  LeapResult ckpt = train_leap(
      b, *tok, [&] { return prior; }, o);
  for (size_t i = 0; i < plain.theta.size(); ++i) EXPECT_TRUE(test::allclose(plain.theta[i], ckpt.theta[i], 1e-6)) << i;
  // the recomputation records (masks, θ views) do not outlive the last micro-batch's backward
  EXPECT_EQ(recomputed_block_records(), 0u);
}

TEST(Leap, TrainingLowersLossAndHitsDensity) {
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.6, 8, 128);
  CausalLM m = load_model(dir, {});
  TrainOptions o = test::tiny_train_options();
  o.steps = 60;
  o.final_mask = "threshold";
  Stopwatch whole;
  LeapResult r = train_leap(
      m, *tok,
      [&] {
        std::this_thread::sleep_for(std::chrono::seconds(2));  // a slow prior: not training time
        return prior;
      },
      o, TrainContext{0.6});
  // tokens/s, the ETA and train_seconds count the training steps only, not the prior
  EXPECT_LT(r.summary["train_seconds"].get<double>(), whole.seconds() - 1.5);
  double first = r.summary["first_step_ce"], last = r.summary["last_step_ce"];
  EXPECT_LT(last, first - 1.0) << "CE " << first << " -> " << last;
  auto sp = measure_sparsity(m);
  int64_t z = 0, n = 0;
  for (auto& x : sp) z += x.zeros, n += x.numel;
  EXPECT_NEAR(double(z) / double(n), 0.6, 0.02);  // threshold rule: the density penalty holds the budget
}

}  // namespace
}  // namespace leap

namespace leap {
namespace {

TEST(Leap, NonFiniteTrainingNamesTheStepAndTheBlock) {
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  CausalLM m = load_model(dir, {});
  {
    torch::NoGradGuard ng;  // a NaN weight in block 2 (load_model refuses such files; here it appears later)
    m->decoder_linears()[2 * 7 + 5].linear->weight.view({-1})[3] = std::numeric_limits<float>::quiet_NaN();
  }
  TrainOptions o = test::tiny_train_options();
  o.steps = 2;
  std::string err;
  try {
    train_leap(
        m, *tok, [&] { return prior; }, o);
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("LEAP step 1, micro-batch 0: non-finite loss"), std::string::npos) << err;
  EXPECT_NE(err.find("first non-finite values in the output of block 2 (model.layers.2)"), std::string::npos) << err;
}

TEST(Leap, Float16ModelIsRefusedNotTrainedWithoutLossScaling) {
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  CausalLM m = load_model(dir, {torch::kFloat16, torch::kCPU});
  bool prior_called = false;
  const std::string err = test::error_of([&] {
    train_leap(
        m, *tok,
        [&] {
          prior_called = true;
          return std::map<std::string, torch::Tensor>();
        },
        test::tiny_train_options());
  });
  EXPECT_NE(err.find("LEAP does not train a float16 model"), std::string::npos) << err;
  EXPECT_FALSE(prior_called);  // refused before any work
}

TEST(Recipe, FlagsOverrideRecipeWhichOverridesPresets) {
  nlohmann::json recipe = nlohmann::json::parse(read_file(test::source_dir() + "/configs/recipes/leap.json"));
  PruneArgs o;
  o.given = {"steps", "method"};
  o.leap.steps = 7;  // as if --steps 7 was typed
  o.method = "wanda";
  apply_recipe(o, recipe, "leap.json");
  EXPECT_EQ(o.leap.steps, 7);
  EXPECT_EQ(o.leap.global_batch, 128);
  EXPECT_EQ(o.method, "wanda");
  EXPECT_DOUBLE_EQ(o.leap.beta2, 0.95);
  apply_defaults(o, nlohmann::json{{"global_batch", 4}, {"seqlen", 256}, {"calib_seqlen", 512}, {"nsamples", 7}},
                 "preset");
  EXPECT_EQ(o.leap.global_batch, 128);  // the recipe wins over the preset
  EXPECT_EQ(o.calib_seqlen, 2048);
  EXPECT_EQ(o.nsamples, 128);
  PruneArgs fresh;
  EXPECT_EQ(fresh.method, "leap");  // `leap prune --model M --sparsity S` runs LEAP
  apply_defaults(fresh, nlohmann::json{{"seqlen", 256}}, "preset");
  EXPECT_EQ(fresh.leap.seqlen, 256);
  PruneArgs bad;
  EXPECT_THROW(apply_recipe(bad, nlohmann::json{{"stpes", 3}}, "typo.json"), std::runtime_error);
  EXPECT_THROW(apply_recipe(bad, nlohmann::json{{"steps", "many"}}, "type.json"), std::runtime_error);
}

}  // namespace
}  // namespace leap
