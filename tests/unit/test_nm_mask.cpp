// Learnable N:M masks (model/nm_mask.h): the patterns, the Gumbel-softmax sample (every soft
// group keeps exactly N; the fused loops equal the formula with their noise), the masked linear's pattern-logit
// gradient against autograd on the plain formula and finite differences (float64), MaskLLM's prior, the argmax mask's
// validity, and LEAP 2:4 end to end on stories260k (exact 2:4 output, lower loss, the refusal of a width M does not
// divide).
#include "base/error.h"
#include "io/model_path.h"
#include "leap/trainer.h"
#include "model/mask.h"
#include "model/mask_kernel.h"
#include "model/model.h"
#include "model/nm_mask.h"
#include "prune/sparsity_pattern.h"
#include "prune/sparsity_summary.h"
#include "test_util.h"

namespace leap {
namespace {

TEST(NmMask, PatternsAreEveryNOfMInLexicographicOrder) {
  torch::Tensor p24 = nm_patterns(2, 4);
  ASSERT_EQ(p24.sizes(), (std::vector<int64_t>{6, 4}));
  EXPECT_TRUE(torch::equal(
      p24, torch::tensor({{1, 1, 0, 0}, {1, 0, 1, 0}, {1, 0, 0, 1}, {0, 1, 1, 0}, {0, 1, 0, 1}, {0, 0, 1, 1}},
                         torch::kFloat32)));
  torch::Tensor p48 = nm_patterns(4, 8);
  ASSERT_EQ(p48.sizes(), (std::vector<int64_t>{70, 8}));
  EXPECT_TRUE((p48.sum(1) == 4).all().item<bool>());
  EXPECT_EQ(std::get<0>(at::_unique(p48.matmul(torch::pow(2.0, torch::arange(8, torch::kFloat32))))).numel(), 70);
  EXPECT_NE(test::error_of([] { nm_patterns(8, 16); }).find("M <= 8"), std::string::npos);
  EXPECT_NE(test::error_of([] { nm_patterns(4, 4); }).find("1 <= N < M"), std::string::npos);
}

TEST(NmMask, SoftGroupsKeepExactlyNAndStatisticsMatch) {
  for (auto [n, m] : {std::pair<int64_t, int64_t>{2, 4}, {4, 8}}) {
    torch::Tensor patterns = nm_patterns(n, m);
    torch::manual_seed(1);
    torch::Tensor w = torch::randn({16, 32});
    torch::Tensor theta = torch::randn({16, 32 / m, patterns.size(0)}) * 0.02;
    NmSample s = sample_nm_mask(theta, w, patterns, 100.0, 4.0, 7);
    ASSERT_EQ(s.M.sizes(), w.sizes());
    torch::Tensor groups = s.M.view({16, 32 / m, m}).sum(-1);
    EXPECT_TRUE(test::allclose(groups, torch::full_like(groups, double(n)), 1e-5));
    EXPECT_GE(s.M.min().item<float>(), 0.0f);
    EXPECT_LE(s.M.max().item<float>(), 1.0f + 1e-6f);
    EXPECT_NEAR(s.sum, double(n) / double(m) * double(w.numel()), 1e-3);
    EXPECT_NEAR(s.wnorm, (s.M * w).norm().item<double>(), 1e-4);
    // the same seed, the same sample; another seed, another one
    EXPECT_TRUE(torch::equal(s.M, sample_nm_mask(theta, w, patterns, 100.0, 4.0, 7).M));
    EXPECT_FALSE(torch::equal(s.M, sample_nm_mask(theta, w, patterns, 100.0, 4.0, 8).M));
  }
}

// The fused CPU loops against the formula with their own noise (uniform_at), and against the
// composite gradient: 2:4 and 4:8 (the loops' unrolled cases), 1:4 and 3:8 (the general one), on
// enough groups for several of the sampler's blocks of ~4096 logits.
TEST(NmMask, FusedSamplerAndGradientEqualTheFormulaWithTheirNoise) {
  for (auto [n, m] : {std::pair<int64_t, int64_t>{2, 4}, {4, 8}, {1, 4}, {3, 8}}) {
    torch::Tensor patterns = nm_patterns(n, m);
    torch::manual_seed(3);
    const int64_t out = 48, in = 64, C = patterns.size(0);
    torch::Tensor w = torch::randn({out, in});
    torch::Tensor theta = torch::randn({out, in / m, C}) * 0.02;
    const double kappa = 120.0, tau = 2.5;
    const uint64_t seed = 99;
    NmSample s = sample_nm_mask(theta, w, patterns, kappa, tau, seed);
    torch::Tensor u = torch::empty_like(theta);
    float* ud = u.data_ptr<float>();
    for (int64_t i = 0; i < u.numel(); ++i) ud[i] = kernel::uniform_at(seed, i);
    torch::Tensor P = nm_pattern_weights(theta, u, kappa, tau);
    EXPECT_TRUE(test::allclose(s.P, P, 2e-5));
    EXPECT_TRUE(test::allclose(s.M, P.matmul(patterns).reshape({out, in}), 2e-5));
    torch::Tensor g = torch::randn({out, in});
    torch::Tensor fused = nm_logit_grad(g, s.M, s.P, w, patterns, kappa / tau, 0.01, -0.3);
    torch::Tensor composite = nm_logit_grad(g, s.M, s.P, w, patterns, kappa / tau, 0.01, -0.3, false);
    EXPECT_TRUE(test::allclose(fused, composite, 1e-3 * composite.abs().max().item<double>()));
  }
}

// The masked linear's θ gradient through the N:M relaxation (with the regulariser's ΣM and
// ‖M⊙W‖ terms) against autograd on the plain formula, then finite differences, in float64.
TEST(NmMask, MaskedLinearPatternLogitGradientMatchesAutograd) {
  auto opt = torch::TensorOptions().dtype(torch::kFloat64);
  torch::manual_seed(0);
  const int64_t out = 3, in = 8;
  torch::Tensor patterns = nm_patterns(2, 4).to(torch::kFloat64);
  torch::Tensor x = torch::randn({2, 5, in}, opt).requires_grad_(true);
  torch::Tensor w = torch::randn({out, in}, opt);
  torch::Tensor theta = (torch::randn({out, in / 4, 6}, opt) * 0.05).requires_grad_(true);
  torch::Tensor u = torch::rand({out, in / 4, 6}, opt) * 0.98 + 0.01;
  const double kappa = 100.0, tau = 3.0, a = 0.3, c = -0.7;
  auto M_of = [&](const torch::Tensor& th) {
    return nm_pattern_weights(th, u, kappa, tau).matmul(patterns).reshape({out, in});
  };
  torch::Tensor P = nm_pattern_weights(theta.detach(), u, kappa, tau);
  torch::Tensor M = M_of(theta).detach();
  const double r = (M * w).norm().item<double>();
  LinearMask lm{M, theta, kappa / tau, a, c / r, P, patterns};
  torch::Tensor y1 = masked_linear(x, w, lm, torch::Tensor());
  torch::Tensor gy = torch::randn(y1.sizes(), opt);
  auto g1 = torch::autograd::grad({y1}, {x, theta}, {gy});
  auto f = [&](const torch::Tensor& th) {
    torch::Tensor Mt = M_of(th);
    return (torch::matmul(x.detach(), (w * Mt).t()) * gy).sum() + a * Mt.sum() + c * (Mt * w).norm();
  };
  torch::Tensor y2 = torch::matmul(x, (w * M_of(theta)).t());
  auto g2 = torch::autograd::grad({f(theta)}, {theta});
  EXPECT_TRUE(test::allclose(y1, y2, 1e-12));
  EXPECT_TRUE(test::allclose(g1[1], g2[0], 1e-10));
  EXPECT_GT(g1[1].abs().max().item<double>(), 1e-3);  // not vacuous
  EXPECT_TRUE(test::allclose(g1[1], test::finite_difference(f, theta, 1e-7), 1e-5));
  // a constant ∂L/∂ΣM (the density penalty) moves no logit: every soft group sums to N
  torch::Tensor g0 = nm_logit_grad(torch::zeros({out, in}, opt), M, P, w, patterns, kappa / tau, 5.0, 0.0);
  EXPECT_LT(g0.abs().max().item<double>(), 1e-12);
}

TEST(NmMask, PriorPutsTheOneShotPatternOnTopAndTheFinalMaskIsExactlyNM) {
  for (auto [n, m] : {std::pair<int64_t, int64_t>{2, 4}, {4, 8}}) {
    torch::Tensor patterns = nm_patterns(n, m);
    torch::manual_seed(2);
    torch::Tensor keep = keep_mask_nm(torch::randn({64, 128}), SparsityPattern{n, m});
    ASSERT_TRUE(test::exactly_nm(keep, n, m));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
    // a strong prior reproduces the one-shot mask exactly; MaskLLM's strength 3 nearly
    torch::Tensor strong = init_nm_logits(keep, patterns, n, 0.01, 12.0, gen);
    ASSERT_EQ(strong.sizes(), (std::vector<int64_t>{64, 128 / m, patterns.size(0)}));
    EXPECT_TRUE(torch::equal(nm_keep_mask(strong, patterns), keep));
    torch::Tensor usual = nm_keep_mask(init_nm_logits(keep, patterns, n, 0.01, 3.0, gen), patterns);
    EXPECT_TRUE(test::exactly_nm(usual, n, m));
    const double agree = (usual == keep).to(torch::kFloat64).mean().item<double>();
    EXPECT_GT(agree, 0.9) << n << ":" << m;
    // random logits: still exactly N:M
    EXPECT_TRUE(test::exactly_nm(nm_keep_mask(torch::randn({64, 128 / m, patterns.size(0)}), patterns), n, m));
  }
}

TrainOptions tiny_nm_run() {
  TrainOptions o = test::tiny_train_options(30);
  o.kappa_start = 100;  // MaskLLM's κ schedule
  o.kappa_end = 500;
  return o;
}

TEST(NmMask, LeapTwoFourOnStories260kIsExactlyTwoFourAndLowersTheLoss) {
  test::QuietLog quiet;
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  const SparsityPattern p{2, 4};
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128, p);
  CausalLM m = load_model(dir, {});
  TrainContext ctx;
  ctx.sparsity = 0.5;
  ctx.nm_n = 2;
  ctx.nm_m = 4;
  LeapResult r = train_leap(
      m, *tok, [&] { return prior; }, tiny_nm_run(), ctx);
  ASSERT_TRUE(r.finished);
  ASSERT_FALSE(r.theta.empty());
  EXPECT_EQ(r.theta[0].dim(), 3);
  EXPECT_EQ(r.theta[0].size(2), 6);
  int64_t changed = 0, total = 0;
  for (const auto& [name, keep] : r.keep) {
    EXPECT_TRUE(test::exactly_nm(keep, 2, 4)) << name;
    changed += (keep != prior.at(name)).sum().item<int64_t>();
    total += keep.numel();
  }
  EXPECT_GT(changed, 0) << "training moved no group off the Wanda prior";
  for (const auto& l : measure_sparsity(m)) EXPECT_EQ(l.zeros * 2, l.numel) << l.name;
  const double first = r.summary["first_step_ce"], last = r.summary["last_step_ce"];
  EXPECT_LT(last, first) << "CE " << first << " -> " << last;
  EXPECT_EQ(r.summary["final_mask"], "argmax pattern");
  // 4:8 does not divide stories260k's MLP width (172): refused, naming the linear
  CausalLM m2 = load_model(dir, {});
  ctx.nm_n = 4;
  ctx.nm_m = 8;
  const std::string err = test::error_of([&] {
    train_leap(
        m2, *tok, [&] { return prior; }, tiny_nm_run(), ctx);
  });
  EXPECT_NE(err.find("not a multiple of M = 8"), std::string::npos) << err;
}

}  // namespace
}  // namespace leap
