// test_adamw_8bit.cpp — AdamW with 8-bit moments (src/leap/adamw_8bit.h, --optim adamw_8bit): the
// dynamic map, quantization to the nearest code, the fused CPU loop against the LibTorch ops,
// closeness to float32 AdamW, the bucketed optimizer's state round trip, and a LEAP run on
// stories260k that resumes exactly. torchao's AdamW8bit itself: parity/test_adamw_8bit_parity.cpp.
#include <gtest/gtest.h>

#include "base/error.h"
#include "io/model_path.h"
#include "leap/adamw_8bit.h"
#include "leap/bucketed_adamw.h"
#include "leap/trainer.h"
#include "model/model.h"
#include "test_util.h"

namespace leap {
namespace {
using torch::Tensor;

TEST(Adam8bit, DynamicMapIsTheBitsandbytesTree) {
  for (bool is_signed : {true, false}) {
    const Tensor q = dynamic_qmap(is_signed);
    ASSERT_EQ(q.numel(), 256);
    EXPECT_TRUE(torch::all(q.slice(0, 1) > q.slice(0, 0, 255)).item<bool>()) << "strictly increasing";
    EXPECT_EQ(q[255].item<float>(), 1.0f);
    EXPECT_EQ((q == 0).sum().item<int64_t>(), 1);
    EXPECT_EQ((q < 0).sum().item<int64_t>(), is_signed ? 127 : 0);
  }
  // values torchao's create_dynamic_map gives (printed by torchao 0.18.0)
  const Tensor s = dynamic_qmap(true), u = dynamic_qmap(false);
  EXPECT_EQ(s[0].item<float>(), -0.992968738079071f);
  EXPECT_EQ(s[1].item<float>(), -0.9789062738418579f);
  EXPECT_EQ(s[254].item<float>(), 0.992968738079071f);
  EXPECT_NEAR(s[128].item<float>(), 5.5e-7, 1e-12);  // the smallest positive code: 10^-6 · (0.1 + 1) / 2
  EXPECT_NEAR(u[1].item<float>(), 3.25e-7, 1e-12);   // unsigned: 10^-6 · (0.1 + 0.55) / 2
}

TEST(Adam8bit, QuantizationPicksTheNearestCodePerBlock) {
  torch::manual_seed(0);
  const int64_t n = 8 * kMoment8bitBlock;
  // magnitudes from 1e-7 to 1 inside each block, as Adam's moments have
  const Tensor x = torch::randn({n}) * torch::logspace(-7, 0, n).view({8, -1}).t().reshape({-1});
  for (bool is_signed : {true, false}) {
    const Tensor xs = is_signed ? x : x.abs();
    Moment8bit m = Moment8bit::zeros(n, is_signed, torch::kCPU);
    quantize_moment(xs, m);
    const Tensor blocks = xs.view({-1, kMoment8bitBlock});
    EXPECT_TRUE(torch::equal(m.scale, blocks.abs().amax(1))) << "scale = the block's absolute maximum";
    const Tensor y = (blocks / m.scale.unsqueeze(1)).reshape({-1, 1});
    const Tensor q = dynamic_qmap(is_signed);
    const Tensor best = std::get<0>((y - q.unsqueeze(0)).abs().min(1));             // brute force
    const Tensor chosen = (y.squeeze(1) - q.take(m.codes.to(torch::kLong))).abs();  // leap's code
    EXPECT_LE((chosen - best).max().item<float>(), 1e-7f);
    // dequantized: within half the map's local spacing of x, relative to the block scale
    const Tensor d = dequantize_moment(m);
    EXPECT_LE(((d - xs).view({-1, kMoment8bitBlock}) / m.scale.unsqueeze(1)).abs().max().item<float>(), 0.0075f);
  }
}

TEST(Adam8bit, FusedLoopEqualsTheLibTorchOps) {
  torch::manual_seed(1);
  const int64_t n = 64 * kMoment8bitBlock;
  Tensor p1 = torch::randn({n}), p2 = p1.clone();
  Moment8bit m1 = Moment8bit::zeros(n, true, torch::kCPU), v1 = Moment8bit::zeros(n, false, torch::kCPU);
  Moment8bit m2 = Moment8bit::zeros(n, true, torch::kCPU), v2 = Moment8bit::zeros(n, false, torch::kCPU);
  for (int64_t t = 1; t <= 10; ++t) {
    const Tensor g = torch::randn({n}) * torch::logspace(-5, 0, n);
    const AdamWStep s{1e-3, 0.9, 0.95, t % 2 ? 0.0 : 0.1, 1e-8, t};
    adamw_8bit_step(p1, g, m1, v1, s, /*fused=*/true);
    adamw_8bit_step(p2, g, m2, v2, s, /*fused=*/false);
  }
  // the two round differently in the last bit (fma vs ATen's lerp), so a code may differ by one
  for (auto [a, b] : {std::pair{&m1, &m2}, std::pair{&v1, &v2}}) {
    const Tensor dc = (a->codes.to(torch::kInt32) - b->codes.to(torch::kInt32)).abs();
    EXPECT_LE(dc.max().item<int>(), 1);
    EXPECT_LE(dc.ne(0).sum().item<int64_t>(), n / 1000) << "codes that differ";
    EXPECT_TRUE(test::allclose(a->scale, b->scale, 1e-6));
  }
  EXPECT_TRUE(test::allclose(p1, p2, 1e-6));
}

// 8-bit moments change the trajectory a little, not the optimisation: 200 AdamW steps on a noisy
// quadratic (minimum at c) end as close to c as float32 AdamW does, and the two parameter
// vectors stay within a small fraction of the distance travelled.
TEST(Adam8bit, FollowsFloat32AdamW) {
  torch::manual_seed(2);
  const int64_t n = 16 * kMoment8bitBlock;
  const Tensor c = torch::randn({n}) * torch::logspace(-3, 0, n);
  Tensor p8 = torch::zeros({n}), p32 = torch::zeros({n}), m32 = torch::zeros({n}), v32 = torch::zeros({n});
  Moment8bit m8 = Moment8bit::zeros(n, true, torch::kCPU), v8 = Moment8bit::zeros(n, false, torch::kCPU);
  Tensor step = torch::zeros({});
  for (int64_t t = 1; t <= 200; ++t) {
    const Tensor noise = torch::randn({n}) * 0.1;
    adamw_8bit_step(p8, (p8 - c) + noise, m8, v8, {1e-2, 0.9, 0.95, 0.0, 1e-8, t});
    step.fill_(double(t));
    at::_fused_adamw_({p32}, {(p32 - c) + noise}, {m32}, {v32}, {}, {step}, 1e-2, 0.9, 0.95, 0.0, 1e-8, false, false);
  }
  const double d8 = (p8 - c).norm().item<double>(), d32 = (p32 - c).norm().item<double>();
  const double travelled = c.norm().item<double>(), apart = (p8 - p32).norm().item<double>();
  EXPECT_LT(d8, 1.1 * d32 + 1e-3) << "8-bit " << d8 << " vs float32 " << d32;
  EXPECT_LT(apart, 0.05 * travelled) << "trajectories apart by " << apart << " of " << travelled;
}

// The bucketed optimizer with 8-bit moments: linears on block boundaries, state bytes, and a
// gather / set_moments round trip that continues bit for bit.
TEST(Adam8bit, BucketedStateRoundTripsExactly) {
  torch::manual_seed(3);
  const std::vector<std::vector<int64_t>> shapes{{30, 17}, {300}, {7, 64}};  // none a multiple of 256
  BucketedAdamWOptions ao;
  ao.moments_8bit = true;
  ao.bucket_mib = 1e-3;  // several buckets
  auto make = [&] { return std::make_unique<BucketedAdamW>(shapes, torch::kFloat32, torch::kCPU, ao, nullptr); };
  auto a = make();
  std::vector<Tensor> init;
  for (const auto& s : shapes) init.push_back(torch::randn(s));
  a->set_theta(init);
  auto step = [&](BucketedAdamW& o, int64_t t, const std::vector<Tensor>& g) {
    o.zero_grad();
    for (size_t i = 0; i < g.size(); ++i) o.grad_leaves()[i].grad().add_(g[i]);
    o.finish_reduction();
    o.step(t, 1e-2);
  };
  auto grads = [&] {
    std::vector<Tensor> g;
    for (const auto& s : shapes) g.push_back(torch::randn(s));
    return g;
  };
  for (int64_t t = 1; t <= 4; ++t) step(*a, t, grads());
  std::vector<Tensor> theta;
  AdamMoments mo;
  a->gather(&theta, &mo);
  ASSERT_TRUE(mo.quantized());
  EXPECT_EQ(mo.exp_avg[0].scalar_type(), torch::kUInt8);
  EXPECT_EQ(mo.exp_avg[0].numel(), 512);  // 510 values in two whole blocks of its own
  EXPECT_EQ(mo.exp_avg_scale[0].numel(), 2);
  auto b = make();
  b->set_theta(theta);
  b->set_moments(mo);
  const std::vector<Tensor> g = grads();
  step(*a, 5, g);
  step(*b, 5, g);
  for (size_t i = 0; i < shapes.size(); ++i) EXPECT_TRUE(torch::equal(a->params()[i], b->params()[i])) << i;
  // θ and its gradient 4 + 4 bytes, the moments 2 (+ a scale per 256), for 256-aligned regions
  const int64_t regions = 512 + 512 + 512;
  EXPECT_LE(a->state_bytes(), regions * (4 + 4 + 2) + 4 * 2 * regions / 256 + 8 * 256 * 3);
  // float32 moments into an 8-bit optimizer are quantized; codes into a float32 one are refused
  BucketedAdamW f32(shapes, torch::kFloat32, torch::kCPU, {}, nullptr);
  EXPECT_THROW(f32.set_moments(mo), Error);
}

// --optim adamw_8bit through the trainer: it trains (loss falls, exact budget) and a run stopped
// and resumed from its checkpoint equals the uninterrupted one bit for bit.
TEST(Adam8bit, LeapRunResumesExactly) {
  const std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  TrainOptions o = test::tiny_train_options();
  o.optim = "adamw_8bit";
  o.save_every = 4;
  o.ckpt_dir = test::temp_dir("leap8_ckpt_a");
  CausalLM a = load_model(dir, {});
  const LeapResult full = train_leap(
      a, *tok, [&] { return prior; }, o);
  ASSERT_TRUE(full.finished);
  o.ckpt_dir = test::temp_dir("leap8_ckpt_b");
  o.max_steps_per_run = 5;
  CausalLM b = load_model(dir, {});
  EXPECT_FALSE(train_leap(
                   b, *tok, [&] { return prior; }, o)
                   .finished);
  o.max_steps_per_run = 0;
  o.resume = true;
  CausalLM c = load_model(dir, {});
  const LeapResult rest = train_leap(
      c, *tok, [&] { return prior; }, o);
  ASSERT_TRUE(rest.finished);
  for (size_t i = 0; i < full.theta.size(); ++i) EXPECT_TRUE(torch::equal(full.theta[i], rest.theta[i])) << i;
  // the optimizer is part of the run: a float32-moment run does not resume an 8-bit checkpoint
  TrainOptions other = o;
  other.optim = "adamw";
  CausalLM d = load_model(dir, {});
  const std::string err = test::error_of([&] {
    train_leap(
        d, *tok, [&] { return prior; }, other);
  });
  EXPECT_NE(err.find("- optim: checkpoint \"adamw_8bit\""), std::string::npos) << err;
  other.optim = "adam8";
  EXPECT_NE(test::error_of([&] {
              CausalLM e = load_model(dir, {});
              train_leap(
                  e, *tok, [&] { return prior; }, other);
            }).find("--optim must be adamw or adamw_8bit (got 'adam8')"),
            std::string::npos);
}

}  // namespace
}  // namespace leap
