// leap_trainer.cpp — see leap_trainer.h. Equations of method.md §1 next to the lines.
#include "leap/leap_trainer.h"

#include <cmath>
#include <numeric>
#include <random>

#include "leap/calibration.h"
#include "leap/error.h"
#include "leap/fs_util.h"
#include "leap/log.h"
#include "leap/mask.h"
#include "leap/progress.h"

namespace leap {
using torch::Tensor;
using ojson = nlohmann::ordered_json;

Tensor pack_training_blocks(const Tokenizer& tok, const std::string& path, int64_t seqlen) {
  LEAP_CHECK(seqlen >= 2, "--seqlen must be at least 2");
  std::vector<std::string> docs = read_documents(path, nullptr);
  std::vector<int64_t> all;
  for (const auto& d : docs) {
    auto ids = tok.encode(d, true);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  int64_t n = int64_t(all.size()) / seqlen;
  if (n == 0) fail("%s: %zu tokens are fewer than one --seqlen %lld block", path.c_str(), all.size(), (long long)seqlen);
  all.resize(size_t(n * seqlen));
  return torch::tensor(all, torch::kInt64).view({n, seqlen});
}

namespace {

// HF get_cosine_schedule_with_warmup: factor for the optimizer step index t (0-based).
double lr_factor(int64_t t, int64_t warmup, int64_t T) {
  if (t < warmup) return double(t) / double(std::max<int64_t>(1, warmup));
  double progress = double(t - warmup) / double(std::max<int64_t>(1, T - warmup));
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

}  // namespace

LeapResult train_leap(CausalLM& m, const Tokenizer& tok, const std::map<std::string, Tensor>& prior,
                      const PruneOptions& o) {
  LEAP_CHECK(o.steps >= 1, "--steps must be at least 1");
  LEAP_CHECK(o.micro_batch >= 1 && o.global_batch >= o.micro_batch && o.global_batch % o.micro_batch == 0,
             "--global_batch (%lld) must be a positive multiple of --micro_batch (%lld)", (long long)o.global_batch,
             (long long)o.micro_batch);
  LEAP_CHECK(o.final_mask == "exact" || o.final_mask == "threshold", "--final_mask must be exact or threshold");
  const torch::Device dev = m->device();
  auto linears = m->decoder_linears();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(o.seed));
  // mask noise is drawn on the model's device: the CPU generator above, or the device's default one
  at::Generator noise_gen = dev.is_cpu() ? gen : at::globalContext().defaultGenerator(dev);
  if (!dev.is_cpu()) noise_gen.set_current_seed(uint64_t(o.seed) + 1);

  // ---- logits θ from the Wanda prior: θ ~ N(0, 0.014²) + 3·std(θ)·(±1)   (§1.4)
  std::vector<Tensor> thetas;
  int64_t total = 0;
  for (const auto& l : linears) {
    auto it = prior.find(l.name);
    LEAP_CHECK(it != prior.end(), "no prior mask for %s", l.name.c_str());
    Tensor th = init_logits(it->second, o.init_std, o.prior_strength, gen).to(dev).set_requires_grad(true);
    thetas.push_back(th);
    total += th.numel();
  }
  double wnorm_total = 0;  // Σ_l ‖W_l‖_F
  for (const auto& l : linears) wnorm_total += l.linear->weight.to(torch::kFloat32).norm().item<double>();
  const double target_density = 1.0 - o.sparsity;  // d* = 1 − s

  // ---- data: packed blocks, shuffled per epoch with the seed
  Tensor blocks = pack_training_blocks(tok, o.train_data, o.seqlen);
  const int64_t nblocks = blocks.size(0);
  std::mt19937_64 rng(uint64_t(o.seed));
  std::vector<int64_t> order(static_cast<size_t>(nblocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  size_t cursor = 0;
  auto next_blocks = [&](int64_t n) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < n; ++i) {
      if (cursor == order.size()) {
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      idx.push_back(order[cursor++]);
    }
    return blocks.index_select(0, torch::tensor(idx, torch::kInt64));
  };
  LEAP_INFO("LEAP: %lld masked weights in %zu linears; %lld training blocks of %lld tokens from %s; %lld steps x %lld sequences",
            (long long)total, linears.size(), (long long)nblocks, (long long)o.seqlen, o.train_data.c_str(),
            (long long)o.steps, (long long)o.global_batch);

  torch::optim::AdamW opt(thetas, torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(1e-8).weight_decay(o.weight_decay));
  MaskSchedule sched{o.tau_start, o.tau_end, o.kappa_start, o.kappa_end};
  const int64_t grad_acc = o.global_batch / o.micro_batch, T = o.steps;
  std::string log_lines;
  Stopwatch sw;
  double first_ce = 0, last_ce = 0;
  for (int64_t t = 0; t < T; ++t) {
    const double tau = sched.tau(t, T), kappa = sched.kappa(t, T);
    const double lr = o.lr * lr_factor(t, o.warmup_steps, T);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    double ce_sum = 0, dens_sum = 0, r_sum = 0;
    for (int64_t a = 0; a < grad_acc; ++a) {
      // fresh Gumbel-sigmoid sample for every micro-batch: M = σ((κθ + log u − log(1−u))/τ)   (§1.3)
      Tensor msum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
      Tensor rnum = torch::zeros({}, msum.options());
      for (size_t i = 0; i < linears.size(); ++i) {
        Tensor M = gumbel_sigmoid(thetas[i], kappa, tau, noise_gen);
        linears[i].linear->mask = M;
        msum = msum + M.sum();
        rnum = rnum + (M * linears[i].linear->weight.to(torch::kFloat32)).norm();  // ‖M ⊙ W‖_F
      }
      Tensor x = next_blocks(o.micro_batch).to(dev);
      Tensor logits = m->forward(x).to(torch::kFloat32);  // [b, L, V]
      Tensor ce = torch::nn::functional::cross_entropy(
          logits.slice(1, 0, o.seqlen - 1).reshape({-1, logits.size(-1)}), x.slice(1, 1).reshape({-1}));
      Tensor d = msum / double(total);                                     // d(M) = ΣM / ΣN
      Tensor R = rnum / wnorm_total;                                        // R(M) = Σ‖M⊙W‖ / Σ‖W‖
      Tensor loss = ce / double(grad_acc) +
                    (o.sparse_reg * (d - target_density).abs() - o.weight_reg * (1.0 - double(t) / double(T)) * R) /
                        double(grad_acc);  // §1.5
      loss.backward();
      ce_sum += ce.item<double>();
      dens_sum += d.item<double>();
      r_sum += R.item<double>();
    }
    for (auto& l : linears) l.linear->mask = Tensor();
    double ce_mean = ce_sum / double(grad_acc);
    if (!std::isfinite(ce_mean)) fail("LEAP step %lld: non-finite loss (CE %g); stopping", (long long)t, ce_mean);
    torch::nn::utils::clip_grad_norm_(thetas, o.max_grad_norm);
    opt.step();
    if (t == 0) first_ce = ce_mean;
    last_ce = ce_mean;
    if ((t + 1) % o.log_every == 0 || t == 0 || t + 1 == T) {
      torch::NoGradGuard ng;
      int64_t pos = 0;
      for (const auto& th : thetas) pos += (th > 0).sum().item<int64_t>();
      double hard = double(pos) / double(total), soft = dens_sum / double(grad_acc);
      double el = sw.seconds(), tok_s = double((t + 1) * o.global_batch * o.seqlen) / el;
      LEAP_INFO("step %lld/%lld | ce %.4f | density pen %.4f | soft density %.4f | hard density %.4f | tau %.3f | kappa %.1f | lr %.2e | %.0f tok/s | eta %s",
                (long long)(t + 1), (long long)T, ce_mean, o.sparse_reg * std::abs(soft - target_density), soft, hard, tau,
                kappa, lr, tok_s, format_duration(el / double(t + 1) * double(T - t - 1)).c_str());
      if (!o.log_file.empty()) {
        ojson per_block = ojson::array();
        std::vector<std::pair<int64_t, int64_t>> pb(size_t(m->config().num_layers));
        for (size_t i = 0; i < linears.size(); ++i) {
          pb[size_t(linears[i].layer)].first += (thetas[i] > 0).sum().item<int64_t>();
          pb[size_t(linears[i].layer)].second += thetas[i].numel();
        }
        for (auto& [p, n] : pb) per_block.push_back(double(p) / double(n));
        ojson rec = {{"step", t + 1}, {"ce", ce_mean}, {"soft_density", soft}, {"hard_density", hard},
                     {"weight_reward", r_sum / double(grad_acc)}, {"tau", tau}, {"kappa", kappa}, {"lr", lr},
                     {"tokens_per_s", tok_s}, {"block_hard_density", per_block}};
        log_lines += rec.dump() + "\n";
        write_file_atomic(o.log_file, log_lines);
      }
    }
  }

  // ---- final hard mask   (§1.7)
  torch::NoGradGuard ng;
  LeapResult res;
  double thresh = 0.0;
  if (o.final_mask == "exact") {  // global top-k over θ at the target density
    std::vector<Tensor> flat;
    for (const auto& th : thetas) flat.push_back(th.detach().flatten().to(torch::kCPU));
    Tensor all = torch::cat(flat);
    int64_t keep_n = total - int64_t(double(total) * o.sparsity);
    Tensor sorted = std::get<0>(all.sort(/*stable=*/true, 0, /*descending=*/true));
    thresh = keep_n > 0 ? sorted[keep_n - 1].item<double>() : std::numeric_limits<double>::infinity();
    // ties at the threshold: keep the earliest (stable order) so the count is exact
    int64_t above = (all > thresh).sum().item<int64_t>();
    int64_t ties_to_keep = keep_n - above;
    for (size_t i = 0; i < linears.size(); ++i) {
      Tensor th = thetas[i].detach().to(torch::kCPU);
      Tensor keep = th > thresh;
      Tensor tie = (th == thresh).flatten();
      if (ties_to_keep > 0 && tie.any().item<bool>()) {
        Tensor idx = tie.nonzero().flatten().slice(0, 0, ties_to_keep);
        keep.view({-1}).index_fill_(0, idx, true);
        ties_to_keep -= idx.numel();
      }
      res.keep[linears[i].name] = keep;
    }
  } else {
    for (size_t i = 0; i < linears.size(); ++i) res.keep[linears[i].name] = (thetas[i].detach() > 0).to(torch::kCPU);
  }
  for (auto& l : linears) l.linear->weight.mul_(res.keep[l.name].to(dev).to(l.linear->weight.scalar_type()));
  res.summary = {{"steps", T}, {"global_batch", o.global_batch}, {"micro_batch", o.micro_batch}, {"seqlen", o.seqlen},
                 {"train_data", o.train_data}, {"final_mask", o.final_mask}, {"first_step_ce", first_ce},
                 {"last_step_ce", last_ce}, {"train_seconds", sw.seconds()}};
  return res;
}

}  // namespace leap
