// Data-parallel LEAP on c10d Gloo: ranks are threads of this process joined through a FileStore
// (the same ProcessGroupGloo and loopback TCP transport as separate processes; the CLI's
// process launch is covered by tests/dist_launch_test.sh). Checked: the collectives, the torchrun
// environment parsing, the bucketed AdamW against torch::optim::AdamW, and LEAP on 2 and 3 ranks
// (replicated and sharded optimizer, several buckets) against one process, plus a checkpoint of 2
// sharded ranks resumed on 1.
#include <thread>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "io/model_path.h"
#include "leap/bucketed_adamw.h"
#include "leap/distributed.h"
#include "leap/final_mask.h"
#include "leap/memory_model.h"
#include "leap/trainer.h"
#include "prune/calibration.h"
#include "prune/layerwise.h"
#include "test_util.h"

namespace leap {
namespace {

// Runs fn(rank, comm) on `world` threads joined in one Gloo group.
template <class F>
void run_ranks(int world, const std::string& name, F fn) {
  std::string store = test::temp_dir("store_" + name) + "/store";
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        Comm comm(store, r, world, "gloo", std::chrono::seconds(120));
        fn(r, comm);
      } catch (const std::exception& e) {
        errors[size_t(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[size_t(r)], "") << "rank " << r;
}

TEST(Distributed, GlooCollectivesOnThreeRanks) {
  const int W = 3;
  std::vector<torch::Tensor> sum(W), rs(W), ag(W), bc(W);
  run_ranks(W, "coll", [&](int r, Comm& c) {
    EXPECT_EQ(c.rank(), r);
    EXPECT_EQ(c.world(), W);
    torch::Tensor a = torch::arange(6, torch::kFloat32) * float(r + 1);
    c.allreduce_sum(a);
    sum[size_t(r)] = a;
    torch::Tensor in = torch::arange(6, torch::kFloat32) + float(10 * r), out = torch::empty({2});
    c.reduce_scatter_sum_async(out, in).wait();
    rs[size_t(r)] = out;
    torch::Tensor g = torch::empty({6});
    c.all_gather(g, torch::full({2}, float(r)));
    ag[size_t(r)] = g;
    torch::Tensor b = r == 1 ? torch::tensor({7, 8}, torch::kUInt8) : torch::zeros({2}, torch::kUInt8);
    c.broadcast(b, 1);
    bc[size_t(r)] = b;
    c.barrier();
  });
  for (int r = 0; r < W; ++r) {
    EXPECT_TRUE(torch::equal(sum[size_t(r)], torch::arange(6, torch::kFloat32) * 6.0f));
    // Σ_q (arange(6) + 10q) = 3·arange(6) + 30, slice r
    EXPECT_TRUE(torch::equal(rs[size_t(r)], (torch::arange(6, torch::kFloat32) * 3 + 30).slice(0, 2 * r, 2 * r + 2)));
    EXPECT_TRUE(torch::equal(ag[size_t(r)], torch::tensor({0.f, 0.f, 1.f, 1.f, 2.f, 2.f})));
    EXPECT_TRUE(torch::equal(bc[size_t(r)], torch::tensor({7, 8}, torch::kUInt8)));
  }
}

struct EnvGuard {  // sets variables for one test, restores them after
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  void set(const std::string& k, const char* v) {
    const char* old = std::getenv(k.c_str());
    saved.push_back({k, old ? std::optional<std::string>(old) : std::nullopt});
    if (v)
      ::setenv(k.c_str(), v, 1);
    else
      ::unsetenv(k.c_str());
  }
  ~EnvGuard() {
    for (auto it = saved.rbegin(); it != saved.rend(); ++it)
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
  }
};

std::string env_error() {
  try {
    dist_env_from_environment();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Distributed, TorchrunEnvironment) {
  EnvGuard g;
  for (const char* k :
       {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE"})
    g.set(k, nullptr);
  DistEnv e = dist_env_from_environment();
  EXPECT_FALSE(e.distributed());
  g.set("WORLD_SIZE", "4");
  g.set("RANK", "2");
  g.set("LOCAL_RANK", "0");
  g.set("MASTER_ADDR", "node1");
  g.set("MASTER_PORT", "29511");
  g.set("TORCHELASTIC_USE_AGENT_STORE", "True");
  e = dist_env_from_environment();
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.world, 4);
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_EQ(e.master_addr, "node1");
  EXPECT_EQ(e.master_port, 29511);
  EXPECT_TRUE(e.agent_store);
  g.set("RANK", "4");
  EXPECT_NE(env_error().find("RANK=4 is not below WORLD_SIZE=4"), std::string::npos) << env_error();
  g.set("RANK", "x1");
  EXPECT_NE(env_error().find("RANK=\"x1\" is not an integer"), std::string::npos) << env_error();
  g.set("RANK", "1");
  g.set("MASTER_ADDR", nullptr);
  EXPECT_NE(env_error().find("MASTER_ADDR is not set"), std::string::npos) << env_error();
  g.set("MASTER_ADDR", "127.0.0.1");
  g.set("MASTER_PORT", "70000");
  EXPECT_NE(env_error().find("MASTER_PORT=\"70000\""), std::string::npos) << env_error();
}

TEST(Distributed, BucketedAdamWEqualsTorchAdamWWithClipping) {
  torch::manual_seed(0);
  std::vector<std::vector<int64_t>> shapes{{3, 5}, {7}, {2, 2, 2}};
  BucketedAdamWOptions ao;
  ao.weight_decay = 0.01;
  ao.bucket_mib = 1e-5;  // several buckets
  BucketedAdamW ours(shapes, torch::kFloat32, torch::kCPU, ao, nullptr);
  std::vector<torch::Tensor> ref, init;
  for (auto& s : shapes) {
    init.push_back(torch::randn(s));
    ref.push_back(init.back().clone().requires_grad_(true));
  }
  ours.set_theta(init);
  torch::optim::AdamW torch_opt(ref, torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.01));
  for (int t = 1; t <= 5; ++t) {
    ours.zero_grad();
    torch_opt.zero_grad();
    for (size_t i = 0; i < shapes.size(); ++i) {
      torch::Tensor g = torch::randn(shapes[i]) * 3.0;
      ours.grad_leaves()[i].grad().add_(g);
      ref[i].mutable_grad() = g.clone();
    }
    ours.finish_reduction();
    double n1 = ours.clip_grad_norm(1.0);
    double n2 = torch::nn::utils::clip_grad_norm_(ref, 1.0);
    EXPECT_NEAR(n1, n2, 1e-4 * n2);
    ours.step(t, 1e-2);
    torch_opt.step();
  }
  for (size_t i = 0; i < shapes.size(); ++i) EXPECT_TRUE(test::allclose(ours.params()[i], ref[i].detach(), 1e-6)) << i;
  // the leaves keep accumulating into the flat gradient buckets
  ours.zero_grad();
  torch::Tensor loss = ours.grad_leaves()[0].sum() * 2 + ours.grad_leaves()[1].sum();
  loss.backward();
  EXPECT_TRUE(torch::equal(ours.grad_leaves()[0].grad(), torch::full({3, 5}, 2.0f)));
  std::vector<torch::Tensor> th;
  ours.gather(&th, nullptr);
  EXPECT_TRUE(torch::equal(th[2], ours.params()[2].detach()));
}

// bfloat16 logits: the gradients still accumulate (and would be reduced) in float32, so a small
// term summed over many micro-batches survives beside a large one (bf16 would round 1 + 1e-3 to 1).
TEST(BucketedAdamW, Bfloat16LogitsAccumulateGradientsInFloat32) {
  std::vector<std::vector<int64_t>> shapes = {{4, 3}, {2, 5}};
  BucketedAdamW opt(shapes, torch::kBFloat16, torch::kCPU, {}, nullptr);
  EXPECT_EQ(opt.params()[0].scalar_type(), torch::kBFloat16);
  opt.zero_grad();
  for (int mb = 0; mb < 101; ++mb) {  // one large micro-batch gradient, then 100 small ones
    torch::Tensor loss = opt.grad_leaves()[0].sum() * (mb == 0 ? 1.0 : 1e-3);
    loss.backward();
  }
  const torch::Tensor& g = opt.grad_leaves()[0].grad();
  EXPECT_EQ(g.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(g.min().item<double>(), 1.1, 1e-5);
  EXPECT_NEAR(g.max().item<double>(), 1.1, 1e-5);
  EXPECT_EQ(opt.grad_leaves()[0].storage().nbytes(), 4u);  // the leaf holds no values of its own
  // θ itself: 2 bytes per logit, a float32 master, float32 gradients and moments
  EXPECT_EQ(opt.state_bytes(), (2 + 4 + 4 + 8) * 22);
}

TrainOptions tiny_dp_run() {  // at --sparsity 0.5 (TrainContext's default)
  TrainOptions o = test::tiny_train_options(5, 6, 64);
  o.bucket_mib = 0.2;  // 5 buckets on stories260k: exercises the per-bucket reduction
  return o;
}

LeapResult run_on_ranks(int world, const TrainOptions& o, const std::string& dir, const Tokenizer& tok,
                        const std::map<std::string, torch::Tensor>& prior, const std::string& name,
                        TrainContext ctx = {}) {
  if (world == 1) {
    CausalLM m = load_model(dir, {});
    return train_leap(
        m, tok, [&] { return prior; }, o, ctx);
  }
  std::vector<LeapResult> res(static_cast<size_t>(world));
  std::vector<int> prior_calls(static_cast<size_t>(world), 0);
  run_ranks(world, name, [&](int r, Comm& c) {
    CausalLM m = load_model(dir, {});
    TrainContext rc = ctx;
    rc.comm = &c;
    res[size_t(r)] = train_leap(
        m, tok,
        [&] {
          prior_calls[size_t(r)]++;
          return prior;
        },
        o, rc);
  });
  for (int r = 0; r < world; ++r) EXPECT_EQ(prior_calls[size_t(r)], r == 0 ? 1 : 0) << "the prior runs on rank 0 only";
  for (int r = 1; r < world; ++r) {  // rank 0 alone gathers θ and decides the mask
    EXPECT_EQ(res[size_t(r)].finished, res[0].finished);
    EXPECT_TRUE(res[size_t(r)].theta.empty() && res[size_t(r)].keep.empty()) << "rank " << r << " kept a copy";
  }
  return res[0];
}

// θ equal within atol, and the final masks equal except where θ lies within the θ differences of
// the budget's threshold: sums over ranks round in another order than in one process, so a weight
// tied with the k-th largest θ to within that rounding may fall on either side of it.
void expect_same_training(const LeapResult& a, const LeapResult& b, const std::string& what, double atol = 1e-5) {
  double mx = 0;
  for (size_t i = 0; i < a.theta.size(); ++i) {
    EXPECT_TRUE(test::allclose(a.theta[i], b.theta[i], atol)) << what << ", linear " << i;
    mx = std::max(mx, (a.theta[i] - b.theta[i]).abs().max().item<double>());
  }
  int64_t differ = 0, kept = 0;
  for (const auto& [name, keep] : a.keep) {
    differ += (keep != b.keep.at(name)).sum().item<int64_t>();
    kept += keep.sum().item<int64_t>();
  }
  const double thr = kth_largest(a.theta, kept), band = 2 * mx + 1e-7;
  int64_t near = 0;
  for (const auto& th : a.theta) near += ((th - thr).abs() <= band).sum().item<int64_t>();
  EXPECT_LE(differ, near) << what << ": final masks differ in " << differ << " weights, only " << near
                          << " θ lie within " << band << " of the threshold " << thr;
  std::printf(
      "[ %s ] max |theta diff| vs one process = %.3g, final-mask differences = %lld (θ within %.2g of the "
      "threshold: %lld)\n",
      what.c_str(), mx, (long long)differ, band, (long long)near);
}

TEST(Distributed, LeapOnTwoAndThreeRanksEqualsOneProcess) {
  test::QuietLog quiet;
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 4, 64);
  TrainOptions o = tiny_dp_run();
  LeapResult one = run_on_ranks(1, o, dir, *tok, prior, "one");
  ASSERT_TRUE(one.finished);
  for (int world : {2, 3})
    for (bool shard : {false, true}) {
      o.shard_optimizer = shard;
      std::string what = strformat("%d ranks, %s", world, shard ? "sharded" : "replicated");
      LeapResult r = run_on_ranks(world, o, dir, *tok, prior, strformat("w%d_%d", world, int(shard)));
      ASSERT_TRUE(r.finished) << what;
      expect_same_training(one, r, what);
    }
  {  // the device-resident mask path (here its host loops): each rank's step sums all-reduced, read once
    TrainOptions d = o;
    d.shard_optimizer = false;
    d.mask_path = "device";
    LeapResult one_d = run_on_ranks(1, d, dir, *tok, prior, "one_d");
    LeapResult two_d = run_on_ranks(2, d, dir, *tok, prior, "w2_d");
    ASSERT_TRUE(two_d.finished);
    expect_same_training(one_d, two_d, "2 ranks, device mask path");
  }
  // a global batch that does not split evenly is refused
  o.global_batch = 4;
  o.shard_optimizer = false;
  std::string err;
  run_ranks(3, "uneven", [&](int r, Comm& c) {
    CausalLM m = load_model(dir, {});
    try {
      train_leap(
          m, *tok, [&] { return prior; }, o, TrainContext{0.5, 0, {}, &c});
    } catch (const Error& e) {
      if (r == 0) err = e.what();
    }
  });
  EXPECT_NE(err.find("must be a multiple of --micro_batch x ranks (1 x 3)"), std::string::npos) << err;
}

// Learnable 2:4 masks (θ: pattern logits [out, in/4, 6]) on 2 ranks: θ equal to one process's within
// float32 summation order, and the final masks (argmax pattern per group) equal except in groups
// whose two largest pattern logits lie within the θ differences of each other.
TEST(Distributed, LearnableTwoFourOnTwoRanksEqualsOneProcess) {
  test::QuietLog quiet;
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 4, 64, SparsityPattern{2, 4});
  TrainContext ctx;
  ctx.nm_n = 2;
  ctx.nm_m = 4;
  TrainOptions o = tiny_dp_run();
  o.kappa_start = 100;  // MaskLLM's κ schedule
  o.kappa_end = 500;
  LeapResult one = run_on_ranks(1, o, dir, *tok, prior, "nm_one", ctx);
  ASSERT_TRUE(one.finished);
  for (bool shard : {false, true}) {
    o.shard_optimizer = shard;
    const std::string what = shard ? "2 ranks, 2:4, sharded" : "2 ranks, 2:4, replicated";
    LeapResult two = run_on_ranks(2, o, dir, *tok, prior, shard ? "nm_w2_s" : "nm_w2", ctx);
    ASSERT_TRUE(two.finished) << what;
    ASSERT_EQ(two.theta.size(), one.theta.size());
    double mx = 0;
    for (size_t i = 0; i < one.theta.size(); ++i) {
      ASSERT_EQ(one.theta[i].sizes(), two.theta[i].sizes()) << what << ", linear " << i;
      EXPECT_EQ(one.theta[i].size(-1), 6) << "C(4,2) pattern logits per group";
      EXPECT_TRUE(test::allclose(one.theta[i], two.theta[i], 1e-5)) << what << ", linear " << i;
      mx = std::max(mx, (one.theta[i] - two.theta[i]).abs().max().item<double>());
    }
    int64_t differ = 0, near = 0;  // groups [out, in/4] with another pattern; groups whose top two θ nearly tie
    for (const auto& [name, keep] : one.keep) {
      const torch::Tensor other = two.keep.at(name);
      EXPECT_TRUE(test::exactly_nm(other, 2, 4)) << what << ", " << name;
      differ += (keep != other).view({keep.size(0), keep.size(1) / 4, 4}).any(-1).sum().item<int64_t>();
    }
    for (const auto& th : one.theta) {
      torch::Tensor top2 = std::get<0>(th.topk(2, -1));  // [out, in/4, 2]
      near += ((top2.select(-1, 0) - top2.select(-1, 1)) <= 2 * mx + 1e-7).sum().item<int64_t>();
    }
    EXPECT_LE(differ, near) << what << ": " << differ << " groups differ, " << near << " are near-ties";
    std::printf("[ %s ] max |theta diff| = %.3g, groups with another pattern = %lld (near-ties: %lld)\n",
                what.c_str(), mx, (long long)differ, (long long)near);
  }
}

TEST(Distributed, CheckpointOfTwoShardedRanksResumesOnOne) {
  test::QuietLog quiet;
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 4, 64);
  TrainOptions o = tiny_dp_run();
  o.mask_dtype = "bfloat16";  // float32 master and moments sharded, bf16 θ replicated
  LeapResult uninterrupted = run_on_ranks(1, o, dir, *tok, prior, "ref");
  o.ckpt_dir = test::temp_dir("dp_ckpt");
  o.max_steps_per_run = 3;
  o.shard_optimizer = true;
  LeapResult part = run_on_ranks(2, o, dir, *tok, prior, "part");
  EXPECT_FALSE(part.finished);
  o.max_steps_per_run = 0;
  o.resume = true;
  o.shard_optimizer = false;
  LeapResult rest = run_on_ranks(1, o, dir, *tok, prior, "rest");
  ASSERT_TRUE(rest.finished);
  // bfloat16 gradients are summed in a different order on 2 ranks than in one process: the
  // tolerance is bfloat16's (2^-8 relative of the steps), not float32's
  expect_same_training(uninterrupted, rest, "2 sharded ranks, resumed on 1 (bfloat16 logits)", 1e-3);
}

TEST(MemoryModel, ParameterCountsAndBytesPerMaskedParameter) {
  // Llama-3.1-8B's architecture from its preset: the published parameter count, exactly
  auto j = nlohmann::json::parse(read_file(test::source_dir() + "/configs/models/llama-3.1-8b.json"));
  ModelConfig c = parse_hf_config(j["config"].dump(), "llama-3.1-8b preset");
  EXPECT_EQ(total_param_count(c), 8030261248LL);
  EXPECT_EQ(masked_param_count(c), 6979321856LL);
  auto per_masked = [&](const MemoryEstimate& e) {
    double b = 0;
    for (const auto& t : e.terms) b += t.bytes_per_masked;
    return b;
  };
  MemoryInputs in;
  in.mask_bytes = 4;
  EXPECT_DOUBLE_EQ(per_masked(estimate_memory(c, in)), 20.0);  // θ 4 + grad 4 + m,v 8 + M 4
  in.world = 4;
  in.shard = true;
  EXPECT_DOUBLE_EQ(per_masked(estimate_memory(c, in)), 4 + 4 + 4 + (8 + 4) / 4.0);
  in.mask_bytes = 2;
  // bfloat16 θ and M; float32 gradients, reduce-scatter output, master and moments
  EXPECT_DOUBLE_EQ(per_masked(estimate_memory(c, in)), 2 + 4 + 2 + (8 + 4 + 4) / 4.0);
  // activations: --grad_checkpoint keeps far less; longer sequences need more
  MemoryInputs a, b = a;
  b.grad_checkpoint = true;
  EXPECT_LT(estimate_memory(c, b).total, estimate_memory(c, a).total - 15e9);
}

}  // namespace
}  // namespace leap
