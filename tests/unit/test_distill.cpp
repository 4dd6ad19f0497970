// Dense-teacher distillation (--distill_weight, --distill_temperature, --distill_topk): the fused
// chunked loss and its gradient against autograd through the full logits, whole vocabulary and
// top-k, several chunk sizes; then LEAP trains with it (the teacher is the unmasked model).
#include <sstream>

#include "base/fs_util.h"
#include "io/hf_config.h"
#include "io/model_path.h"
#include "leap/memory_model.h"
#include "leap/trainer.h"
#include "model/lm_loss.h"
#include "test_util.h"

namespace leap {
namespace {

// (1 − a)·CE + a·τ²·KL(p_t ‖ p_s) through m->head on full [B, T, V] logits, by autograd
torch::Tensor reference_loss(CausalLM& m, const torch::Tensor& h, const torch::Tensor& tgt, const torch::Tensor& ht,
                             double a, double tau, int64_t topk) {
  torch::Tensor zs = m->head(h).to(torch::kFloat32), zt;
  {
    torch::NoGradGuard ng;
    zt = m->head(ht).to(torch::kFloat32);
  }
  const int64_t V = zs.size(-1);
  torch::Tensor ce = torch::nn::functional::cross_entropy(zs.reshape({-1, V}), tgt.reshape({-1}));
  torch::Tensor ls = torch::log_softmax(zs / tau, -1), kl;
  if (topk > 0) {
    auto [v, idx] = torch::topk(zt, topk, -1);
    torch::Tensor lp = torch::log_softmax(v / tau, -1);
    kl = (lp.exp() * (lp - ls.gather(-1, idx))).sum(-1).mean();
  } else {
    torch::Tensor lp = torch::log_softmax(zt / tau, -1);
    kl = (lp.exp() * (lp - ls)).sum(-1).mean();
  }
  return ce * (1 - a) + kl * (a * tau * tau);
}

TEST(Distill, FusedLossAndGradientEqualAutogradOnFullLogits) {
  CausalLM m = load_model(resolve_model("stories260k").dir, {});
  torch::manual_seed(0);
  const torch::Tensor h0 = torch::randn({2, 9, 64}) * 2, ht = h0 + torch::randn({2, 9, 64}) * 0.7;
  const torch::Tensor tgt = torch::randint(0, 512, {2, 9}, torch::kInt64);
  double worst_loss = 0, worst_grad = 0;
  for (double a : {0.5, 1.0})
    for (double tau : {1.0, 2.5})
      for (int64_t topk : {0, 7})
        for (int64_t chunk : {4, 512}) {
          torch::Tensor h1 = h0.clone().requires_grad_(true), h2 = h0.clone().requires_grad_(true);
          DistillLoss d = next_token_distill_loss(m, h1, tgt, ht, a, tau, topk, chunk);
          d.loss.backward();
          torch::Tensor ref = reference_loss(m, h2, tgt, ht, a, tau, topk);
          ref.backward();
          const double dl = std::abs(d.loss.item<double>() - ref.item<double>());
          const double dg = (h1.grad() - h2.grad()).abs().max().item<double>();
          const double gmax = h2.grad().abs().max().item<double>();
          EXPECT_LT(dl, 1e-5 * std::max(1.0, std::abs(ref.item<double>()))) << a << " " << tau << " " << topk;
          EXPECT_LT(dg, 1e-5 * gmax) << a << " " << tau << " " << topk << " " << chunk;
          worst_loss = std::max(worst_loss, dl), worst_grad = std::max(worst_grad, dg / gmax);
          // the logged parts: CE alone, and a KL that vanishes for a teacher equal to the student
          EXPECT_NEAR(
              d.ce,
              torch::nn::functional::cross_entropy(m->head(h0).reshape({-1, 512}), tgt.reshape({-1})).item<double>(),
              1e-5);
        }
  DistillLoss same = next_token_distill_loss(m, h0, tgt, h0, 0.5, 2.0, 0);
  EXPECT_NEAR(same.kl, 0.0, 1e-6);
  std::printf("[ distillation ] max |loss diff| %.2g, max |grad diff| / max |grad| %.2g vs autograd\n", worst_loss,
              worst_grad);
  EXPECT_NE(test::error_of([&] { next_token_distill_loss(m, h0, tgt, ht, 1.5, 1.0, 0); }).find("weight in [0, 1]"),
            std::string::npos);
}

TEST(Distill, LeapTrainsAgainstTheUnmaskedTeacher) {
  std::string dir = resolve_model("stories260k").dir;
  auto tok = load_tokenizer(dir);
  auto prior = test::wanda_prior(dir, *tok, 0.5, 8, 128);
  TrainOptions o = test::tiny_train_options(6, 2, 64);
  o.log_every = 1;
  o.log_file = test::temp_dir("distill") + "/metrics.jsonl";
  CausalLM plain_m = load_model(dir, {});
  LeapResult plain = train_leap(
      plain_m, *tok, [&] { return prior; }, o, TrainContext{0.5});
  o.distill_weight = 0.5;
  o.distill_temperature = 2.0;
  o.distill_topk = 16;
  CausalLM m = load_model(dir, {});
  LeapResult r = train_leap(
      m, *tok, [&] { return prior; }, o, TrainContext{0.5});
  ASSERT_TRUE(r.finished);
  // the same first CE (the same masks and data): distillation changes the gradient, not the data
  EXPECT_NEAR(r.summary["first_step_ce"].get<double>(), plain.summary["first_step_ce"].get<double>(), 1e-6);
  double diff = 0;
  for (size_t i = 0; i < r.theta.size(); ++i)
    diff = std::max(diff, (r.theta[i] - plain.theta[i]).abs().max().item<double>());
  EXPECT_GT(diff, 1e-4) << "distillation did not change the training";
  int lines = 0;
  std::istringstream log(read_file(o.log_file));
  for (std::string line; std::getline(log, line);) {
    if (line.empty()) continue;
    auto rec = nlohmann::json::parse(line);
    ASSERT_TRUE(rec["distill_kl"].is_number());
    EXPECT_GE(rec["distill_kl"].get<double>(), 0.0);
    ++lines;
  }
  EXPECT_EQ(lines, 6);
  o.distill_weight = 1.5;
  CausalLM b = load_model(dir, {});
  EXPECT_NE(test::error_of([&] {
              train_leap(
                  b, *tok, [&] { return prior; }, o, TrainContext{0.5});
            }).find("--distill_weight must lie in [0, 1]"),
            std::string::npos);
}

TEST(Distill, MemoryModelCountsTheTeacher) {
  const ModelConfig c = load_hf_config(resolve_model("stories260k").dir + "/config.json");
  MemoryInputs in;
  in.seqlen = 1024;
  in.micro_batch = 2;
  in.model_bytes = 4;
  in.cuda = false;
  const double plain = estimate_memory(c, in, 8, 128).total;
  in.distill = true;
  const double with = estimate_memory(c, in, 8, 128).total;
  // the teacher's hidden states for 2048 tokens and three float32 chunks of 512 x vocab logits
  EXPECT_DOUBLE_EQ(with - plain, 2048.0 * c.hidden_size * 4 + 512.0 * double(c.vocab_size) * 12);
}

}  // namespace
}  // namespace leap
