// The CUDA path on a GPU (label `cuda`; every test skips, naming the reason, where no CUDA device
// is visible): the model's logits on CUDA vs the CPU in float32 and bfloat16, the mask sampler and
// θ-gradients on CUDA vs the CPU's, the masked linear under CUDA autocast vs autograd through
// autocast's plain formula, gradient checkpointing under autocast, a short LEAP run on CUDA vs the
// CPU, a single-rank NCCL run through the data-parallel code, and the allocator's figures.
// scripts/gpu_check.sh runs these on a bare GPU machine.
#include <ATen/autocast_mode.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/util/Exception.h>

#include "base/error.h"
#include "io/model_path.h"
#include "leap/distributed.h"
#include "leap/trainer.h"
#include "model/device.h"
#include "model/device_mask.h"
#include "model/mask.h"
#include "model/model.h"
#include "model/nm_mask.h"
#include "test_util.h"

namespace leap {
namespace {

#define LEAP_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible (LibTorch sees none)"

const torch::Device kCuda(torch::kCUDA, 0);

double rel_max(const torch::Tensor& t) {
  return t.abs().max().item<double>();
}

TEST(Cuda, AllocatorFiguresCountAnAllocation) {
  LEAP_REQUIRE_CUDA();
  reset_device_peaks(kCuda);
  const DeviceMemory before = device_memory(kCuda);
  {
    torch::Tensor t = torch::empty({64 << 18}, torch::TensorOptions().dtype(torch::kFloat32).device(kCuda));  // 64 MiB
    const DeviceMemory during = device_memory(kCuda);
    EXPECT_GE(during.allocated_mib - before.allocated_mib, 63.9);
    EXPECT_GE(during.reserved_mib, during.allocated_mib);
  }
  const DeviceMemory after = device_memory(kCuda);
  EXPECT_LT(after.allocated_mib, before.allocated_mib + 1);  // freed to the cache, not to the driver
  EXPECT_GE(after.peak_allocated_mib, before.allocated_mib + 63.9);
  EXPECT_GE(after.peak_reserved_mib, after.peak_allocated_mib);
  EXPECT_EQ(device_memory(torch::kCPU).peak_reserved_mib, 0.0);
}

// stories260k's logits on CUDA vs the CPU: float32 within 1e-4 (cuBLAS without TF32, LibTorch's
// default), bfloat16 weights within 3% of the largest logit (bf16 has 8 significant bits).
TEST(Cuda, LogitsEqualTheCpusInFloat32AndBfloat16) {
  LEAP_REQUIRE_CUDA();
  const std::string dir = resolve_model("stories260k").dir;
  torch::manual_seed(0);
  torch::Tensor ids = torch::randint(1, 500, {2, 64}, torch::kInt64);
  CausalLM cpu = load_model(dir, {});
  torch::NoGradGuard ng;
  torch::Tensor ref = cpu->forward(ids);
  CausalLM f32 = load_model(dir, {torch::kFloat32, kCuda});
  EXPECT_TRUE(test::allclose(f32->forward(ids.to(kCuda)).cpu(), ref, 1e-4));
  CausalLM bf16 = load_model(dir, {torch::kBFloat16, kCuda});
  EXPECT_TRUE(test::allclose(bf16->forward(ids.to(kCuda)).cpu().to(torch::kFloat32), ref, 0.03 * rel_max(ref)));
}

// The CUDA mask path (composite ops) against the CPU's fused loops on the same θ, W and output
// gradient: the θ-gradient of the unstructured and the 2:4 masks from the same M (the noise streams
// differ: counter-based on the CPU, the CUDA generator here; docs/GPU.md), and the sampler's
// regulariser statistics against M itself.
TEST(Cuda, MaskGradientsEqualTheCpusAndSamplerStatisticsEqualTheMask) {
  LEAP_REQUIRE_CUDA();
  torch::manual_seed(0);
  torch::Tensor theta = torch::randn({64, 128}) * 0.05, w = torch::randn({64, 128}), g = torch::randn({64, 128});
  MaskSample s = sample_mask(theta.to(kCuda), w.to(kCuda), 25.0, 1.5, 3);
  EXPECT_NEAR(s.sum, s.M.sum().item<double>(), 1e-3 * s.sum);
  EXPECT_NEAR(s.wnorm, (s.M * w.to(kCuda)).norm().item<double>(), 1e-4 * s.wnorm);
  torch::Tensor M = s.M.cpu();
  torch::Tensor cpu = mask_logit_grad(g.clone(), M, w, 25.0 / 1.5, 0.3, -0.01);
  torch::Tensor cuda = mask_logit_grad(g.to(kCuda), s.M, w.to(kCuda), 25.0 / 1.5, 0.3, -0.01).cpu();
  EXPECT_TRUE(test::allclose(cuda, cpu, 1e-5 * rel_max(cpu)));
  // 2:4
  torch::Tensor patterns = nm_patterns(2, 4), th = torch::randn({64, 32, 6}) * 0.05;
  NmSample ns = sample_nm_mask(th.to(kCuda), w.to(kCuda), patterns, 25.0, 1.5, 3);
  EXPECT_TRUE(test::allclose(ns.M.view({64, 32, 4}).sum(-1).cpu(), torch::full({64, 32}, 2.0), 1e-5));
  torch::Tensor ncpu = nm_logit_grad(g, ns.M.cpu(), ns.P.cpu(), w, patterns, 25.0 / 1.5, 0.3, -0.01);
  torch::Tensor ncuda =
      nm_logit_grad(g.to(kCuda), ns.M, ns.P, w.to(kCuda), patterns.to(kCuda), 25.0 / 1.5, 0.3, -0.01).cpu();
  EXPECT_TRUE(test::allclose(ncuda, ncpu, 1e-5 * rel_max(ncpu)));
}

// The fused CUDA kernels (model/mask_cuda.h) against the same math in host loops on the CPU (the
// device path's CPU side, itself tested against the fused CPU sampler, autograd and finite
// differences in tests/unit/test_device_mask.cpp): the same noise stream, so W ⊙ M agrees to
// rounding; the statistics are the same bits on every run; every dtype combination the trainer uses.
TEST(Cuda, FusedMaskKernelsEqualTheHostLoopsOnTheSameNoise) {
  LEAP_REQUIRE_CUDA();
  ASSERT_TRUE(device_masks_available(kCuda)) << "this build has no CUDA mask kernels";
  torch::manual_seed(0);
  const int64_t out = 257, in = 1031;  // odd sizes: partial blocks, several grid-stride rounds
  torch::Tensor theta = torch::randn({out, in}) * 0.03, w = torch::randn({out, in}), g = torch::randn({out, in});
  theta.view({-1}).slice(0, 0, 50).mul_(80.0);  // past the exponent's clamp
  const double kappa = 150.0, tau = 1.1;
  const uint64_t seed = 4242;
  torch::Tensor coef = torch::tensor({0.2f, -0.04f});
  for (torch::Dtype tdt : {torch::kFloat32, torch::kBFloat16})
    for (torch::Dtype wdt : {torch::kFloat32, torch::kBFloat16})
      for (torch::Dtype cdt : {torch::kFloat32, torch::kBFloat16}) {
        const std::string what = std::string(c10::toString(tdt)) + " theta, " + c10::toString(wdt) + " W, " +
                                 c10::toString(cdt) + " product";
        torch::Tensor th = theta.to(tdt), wc = w.to(wdt);
        DeviceMaskSample host = sample_device_mask(th, wc, cdt, kappa, tau, seed);
        DeviceMaskSample dev = sample_device_mask(th.to(kCuda), wc.to(kCuda), cdt, kappa, tau, seed);
        const double tol = cdt == torch::kFloat32 ? 1e-5 : 1e-2;  // one bf16 rounding step of |W·M| <~ 4
        EXPECT_TRUE(test::allclose(dev.WM.cpu().to(torch::kFloat32), host.WM.to(torch::kFloat32), tol)) << what;
        const torch::Tensor hs = host.stats, ds = dev.stats.cpu();
        EXPECT_NEAR(ds[0].item<double>(), hs[0].item<double>(), 1e-5 * hs[0].item<double>()) << what;
        EXPECT_NEAR(ds[1].item<double>(), hs[1].item<double>(), 1e-5 * hs[1].item<double>()) << what;
        DeviceMaskSample again = sample_device_mask(th.to(kCuda), wc.to(kCuda), cdt, kappa, tau, seed);
        EXPECT_TRUE(torch::equal(again.stats, dev.stats)) << what << ": the sums are deterministic";
        torch::Tensor gc = g.to(cdt);
        torch::Tensor gh = device_mask_logit_grad(gc.clone(), th, wc, coef, kappa, tau, seed);
        torch::Tensor gd =
            device_mask_logit_grad(gc.to(kCuda), th.to(kCuda), wc.to(kCuda), coef.to(kCuda), kappa, tau, seed);
        ASSERT_EQ(gd.scalar_type(), torch::kFloat32);
        EXPECT_TRUE(test::allclose(gd.cpu(), gh, 1e-5 * rel_max(gh))) << what;
      }
  // the float32 gradient is formed in place over g
  torch::Tensor g32 = g.to(kCuda);
  torch::Tensor out32 = device_mask_logit_grad(g32, theta.to(kCuda), w.to(kCuda), coef.to(kCuda), kappa, tau, seed);
  EXPECT_EQ(out32.data_ptr(), g32.data_ptr());
  // and the CPU's fused sampler (mask.h), the host path's, draws the same M
  MaskSample cpu = sample_mask(theta, w, kappa, tau, seed);
  DeviceMaskSample dev = sample_device_mask(theta.to(kCuda), w.to(kCuda), torch::kFloat32, kappa, tau, seed);
  EXPECT_TRUE(test::allclose(dev.WM.cpu(), cpu.M * w, 1e-5));
}

// A warning handler that counts the host synchronisations CUDA's sync debug mode reports
// (torch.cuda.set_sync_debug_mode("warn") in C++).
struct SyncCounter : c10::WarningHandler {
  int64_t syncs = 0;
  void process(const c10::Warning& w) override {
    if (w.msg().find("synchroniz") != std::string::npos) ++syncs;
  }
};
int64_t syncs_of_a_run(int64_t steps) {
  test::QuietLog quiet;
  const std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  static const auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  TrainOptions o = test::tiny_train_options(steps);
  o.log_every = 1000;  // logged: the first and the last step, as in either run
  CausalLM m = load_model(dir, {torch::kBFloat16, kCuda});
  SyncCounter counter;
  c10::WarningUtils::WarningHandlerGuard guard(&counter);
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_WARN);
  train_leap(
      m, *tok, [&] { return prior; }, o);
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
  return counter.syncs;
}

// The device path synchronises with the host once per optimizer step (the gradient norm and the
// step's sums in one read): 3 more steps cost 3 more synchronisations (issue "GPU", item 8; the
// composite path had ~2 per linear per micro-batch).
TEST(Cuda, DeviceMaskPathSynchronisesOncePerStep) {
  LEAP_REQUIRE_CUDA();
  const int64_t s3 = syncs_of_a_run(3), s6 = syncs_of_a_run(6);
  std::printf("[ syncs ] 3 steps: %lld, 6 steps: %lld\n", (long long)s3, (long long)s6);
  EXPECT_LE(s6 - s3, 3);
}

// A float32 model under CUDA bf16 autocast (what --dtype float32 --device cuda trains with): the
// masked linear's forward and backward equal autograd through autocast's own plain formula.
TEST(Cuda, MaskedLinearUnderAutocastEqualsAutocastsPlainFormula) {
  LEAP_REQUIRE_CUDA();
  torch::manual_seed(0);
  auto opt = torch::TensorOptions().device(kCuda);
  torch::Tensor x = torch::randn({2, 5, 64}, opt).requires_grad_(true);
  torch::Tensor w = torch::randn({32, 64}, opt);
  torch::Tensor theta = (torch::randn({32, 64}, opt) * 0.05).requires_grad_(true);
  torch::Tensor L = torch::logit(torch::rand({32, 64}, opt) * 0.98 + 0.01);
  const double kappa = 25.0, tau = 1.5;
  torch::Tensor M = torch::sigmoid((kappa * theta + L) / tau).detach();
  torch::Tensor y1, y2, M2;
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  y1 = masked_linear(x, w, LinearMask{M, theta, kappa / tau}, torch::Tensor());
  M2 = torch::sigmoid((kappa * theta + L) / tau);
  y2 = torch::matmul(x, (w * M2).t());
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
  ASSERT_EQ(y1.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(test::allclose(y1.cpu(), y2.cpu(), 8e-3 * rel_max(y2)));
  torch::Tensor gy = torch::randn(y1.sizes(), opt).to(torch::kBFloat16);
  auto g1 = torch::autograd::grad({y1}, {x, theta}, {gy});
  auto g2 = torch::autograd::grad({(y2 * gy).sum().to(torch::kFloat32)}, {x, theta});
  EXPECT_TRUE(test::allclose(g1[0].cpu(), g2[0].cpu(), 8e-3 * rel_max(g2[0])));
  EXPECT_TRUE(test::allclose(g1[1].cpu(), g2[1].cpu(), 8e-3 * rel_max(g2[1])));
}

// Deterministic kernels where LibTorch has them (flash attention's backward accumulates dQ with
// atomics otherwise), so that two CUDA runs may be compared to 1e-5: AdamW turns a rounding-level
// gradient difference where the gradient is near zero into a whole step of lr.
LeapResult short_run(const torch::Device& dev, torch::Dtype dt, bool ckpt, Comm* comm = nullptr) {
  test::QuietLog quiet;
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  const std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  static const auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  TrainOptions o = test::tiny_train_options(4);
  o.grad_checkpoint = ckpt;
  CausalLM m = load_model(dir, {dt, dev});
  return train_leap(
      m, *tok, [&] { return prior; }, o, TrainContext{0.5, 0, {}, comm});
}

double mask_agreement(const LeapResult& a, const LeapResult& b) {
  int64_t same = 0, n = 0;
  for (const auto& [name, k] : a.keep) {
    same += (k.cpu() == b.keep.at(name).cpu()).sum().item<int64_t>();
    n += k.numel();
  }
  return double(same) / double(n);
}

// A short LEAP run on CUDA (float32 under bf16 autocast, and bfloat16) lands exactly on the budget
// and keeps the CPU run's final mask up to the noise streams and the bf16 products: at least 95%
// of the decisions agree after 4 steps from the same prior (the figure is printed). Gradient
// checkpointing on CUDA gives the same training (its re-run under the forward's autocast).
TEST(Cuda, ShortLeapRunAgreesWithTheCpuAndCheckpointingChangesNothing) {
  LEAP_REQUIRE_CUDA();
  LeapResult cpu = short_run(torch::kCPU, torch::kFloat32, false);
  for (torch::Dtype dt : {torch::kFloat32, torch::kBFloat16}) {
    LeapResult gpu = short_run(kCuda, dt, false);
    ASSERT_TRUE(gpu.finished);
    int64_t kept = 0, total = 0, kept_cpu = 0;
    for (const auto& [name, k] : gpu.keep) {
      kept += k.sum().item<int64_t>(), total += k.numel();
      kept_cpu += cpu.keep.at(name).sum().item<int64_t>();
    }
    EXPECT_EQ(kept, kept_cpu) << "the exact budget";
    const double agree = mask_agreement(gpu, cpu);
    std::printf("[ %s ] final-mask agreement CUDA vs CPU: %.4f (%lld kept of %lld)\n", c10::toString(dt), agree,
                (long long)kept, (long long)total);
    EXPECT_GE(agree, 0.95);
    LeapResult ck = short_run(kCuda, dt, true);
    for (size_t i = 0; i < gpu.theta.size(); ++i)
      EXPECT_TRUE(test::allclose(ck.theta[i], gpu.theta[i], 1e-5)) << c10::toString(dt) << " linear " << i;
  }
}

// One NCCL rank through the data-parallel code (bucketed all-reduce, rank-0 gather) equals the run
// without a process group.
TEST(Cuda, SingleRankNcclRunEqualsOneProcess) {
  LEAP_REQUIRE_CUDA();
  const std::string err = test::error_of([] { resolve_dist_backend("nccl", true); });
  if (err != "<no error>") GTEST_SKIP() << err;
  LeapResult plain = short_run(kCuda, torch::kBFloat16, false);
  Comm comm(test::temp_dir("nccl_one") + "/store", 0, 1, "nccl", std::chrono::seconds(120));
  LeapResult dp = short_run(kCuda, torch::kBFloat16, false, &comm);
  ASSERT_TRUE(dp.finished);
  for (size_t i = 0; i < plain.theta.size(); ++i)
    EXPECT_TRUE(test::allclose(dp.theta[i], plain.theta[i], 1e-5)) << "linear " << i;
  EXPECT_EQ(mask_agreement(dp, plain), 1.0);
}

}  // namespace
}  // namespace leap
