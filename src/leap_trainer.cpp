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
#include "leap/model.h"
#include "leap/progress.h"
#include "leap/activation_checkpoint.h"
#include "leap/train_state.h"
#include "leap/bucketed_adamw.h"
#include "leap/distributed.h"

#include <ATen/autocast_mode.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

namespace leap {
using torch::Tensor;
using ojson = nlohmann::ordered_json;

namespace {
constexpr size_t kMaxTrainingTokens = size_t(1) << 32;  // 32 GiB of int64 ids
}  // namespace

Tensor pack_training_blocks(const Tokenizer& tok, const std::string& path, int64_t seqlen) {
  LEAP_CHECK(seqlen >= 2, "--seqlen must be at least 2");
  std::vector<std::string> docs = read_documents(path, nullptr);
  std::vector<int64_t> all;
  for (const auto& d : docs) {
    auto ids = tok.encode(d, true);
    all.insert(all.end(), ids.begin(), ids.end());
    if (all.size() > kMaxTrainingTokens)  // a bound, not an allocation attempt that ends in the OOM killer
      fail("%s: more than %zu tokens of training text; use a smaller file", path.c_str(), kMaxTrainingTokens);
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

namespace {

// Resident set size of this process in MiB (Linux).
double rss_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");  // procfs reports size 0: read it as a stream
  if (!f) return 0;
  long pages = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? double(resident) * double(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0) : 0.0;
}

// The Gumbel noise of global micro-batch a of step t comes from its own seed, so any rank can draw
// it: the masks (and so the result) do not depend on how micro-batches are spread over ranks.
uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
uint64_t noise_seed(int64_t seed, int64_t t, int64_t a, size_t linear) {
  return mix64(mix64(mix64(mix64(uint64_t(seed)) ^ uint64_t(t)) ^ uint64_t(a)) ^ uint64_t(linear));
}

// Peak resident set size (VmHWM) in MiB, and its reset (Linux: "5" > /proc/self/clear_refs).
double peak_rss_mib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
  std::fclose(f);
  return kib / 1024.0;
}
void reset_peak_rss() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

}  // namespace

LeapResult train_leap(CausalLM& m, const Tokenizer& tok, const PriorFn& make_prior, const PruneOptions& o,
                      const nlohmann::json& fingerprint, Comm* comm) {
  const int W = comm ? comm->world() : 1, rank = comm ? comm->rank() : 0;
  const bool main_rank = rank == 0;
  if (W == 1) comm = nullptr;
  LEAP_CHECK(o.steps >= 1, "--steps must be at least 1");
  LEAP_CHECK(o.micro_batch >= 1 && o.global_batch >= o.micro_batch && o.global_batch % o.micro_batch == 0,
             "--global_batch (%lld) must be a positive multiple of --micro_batch (%lld)", (long long)o.global_batch,
             (long long)o.micro_batch);
  LEAP_CHECK((o.global_batch / o.micro_batch) % W == 0,
             "--global_batch (%lld) must be a multiple of --micro_batch x ranks (%lld x %d): every rank runs the same "
             "number of micro-batches",
             (long long)o.global_batch, (long long)o.micro_batch, W);
  LEAP_CHECK(o.final_mask == "exact" || o.final_mask == "threshold", "--final_mask must be exact or threshold");
  const torch::Dtype mask_dtype = parse_dtype(o.mask_dtype);
  LEAP_CHECK(mask_dtype == torch::kFloat32 || mask_dtype == torch::kBFloat16,
             "--mask_dtype must be float32 or bfloat16 (got %s)", o.mask_dtype.c_str());
  const torch::Device dev = m->device();
  auto linears = m->decoder_linears();
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& l : linears) {
    names.push_back(l.name);
    shapes.push_back(l.linear->weight.sizes().vec());
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(o.seed));  // initial logits
  std::string ckpt_dir = o.ckpt_dir;
  if (ckpt_dir.empty() && !o.save_model.empty()) ckpt_dir = o.save_model + ".leap_ckpt";
  if ((o.save_every > 0 || o.resume || o.max_steps_per_run > 0) && ckpt_dir.empty())
    fail("--save_every / --resume / --max_steps_per_run need --ckpt_dir (or --save_model)");

  nlohmann::json fp = fingerprint;
  for (auto [k, v] : {std::pair<const char*, nlohmann::json>{"sparsity", o.sparsity}, {"steps", o.steps},
                      {"global_batch", o.global_batch}, {"seqlen", o.seqlen}, {"seed", o.seed}, {"lr", o.lr},
                      {"mask_dtype", o.mask_dtype}, {"final_mask", o.final_mask}})
    fp[k] = v;

  // ---- state: θ in flat buckets (replicated or sharded AdamW), fresh from the Wanda prior or resumed
  BucketedAdamWOptions ao;
  ao.beta1 = o.beta1;
  ao.beta2 = o.beta2;
  ao.weight_decay = o.weight_decay;
  ao.shard = o.shard_optimizer && W > 1;
  ao.bucket_mib = o.bucket_mib;
  if (o.shard_optimizer && W == 1) LEAP_WARN("--shard_optimizer has no effect in a single process");
  BucketedAdamW opt(shapes, mask_dtype, dev, ao, comm);
  const std::vector<Tensor>& thetas = opt.params();
  TrainState st;
  bool resumed = o.resume && load_latest_train_state(ckpt_dir, names, fp, st);  // every rank reads it
  if (resumed) {
    opt.set_theta(st.theta);
    opt.set_moments(st.exp_avg, st.exp_avg_sq);
    gen.set_state(st.cpu_rng);
    LEAP_INFO("resumed from %s/step_%08lld", ckpt_dir.c_str(), (long long)st.step);
  } else {
    if (o.resume) LEAP_INFO("--resume: no checkpoint in %s, starting from step 0", ckpt_dir.c_str());
    // the Wanda prior is computed on rank 0 and its keep masks broadcast (the same masks as one process)
    std::map<std::string, Tensor> prior;
    if (main_rank) prior = make_prior();
    std::vector<Tensor> init;
    for (size_t i = 0; i < linears.size(); ++i) {  // θ ~ N(0, 0.014²) + 3·std(θ)·(±1)   (§1.4)
      Tensor keep;
      if (main_rank) {
        auto it = prior.find(names[i]);
        LEAP_CHECK(it != prior.end(), "no prior mask for %s", names[i].c_str());
        keep = it->second;
      }
      if (comm) {
        Tensor k = main_rank ? keep.to(dev).to(torch::kUInt8).contiguous()
                             : torch::empty(shapes[i], torch::TensorOptions().dtype(torch::kUInt8).device(dev));
        comm->broadcast(k, 0);
        keep = k.to(torch::kBool);
      }
      init.push_back(init_logits(keep, o.init_std, o.prior_strength, gen));
    }
    opt.set_theta(init);
  }
  const int64_t total = opt.numel();
  LEAP_INFO("LEAP state: %s", opt.describe().c_str());
  double wnorm_total = 0;  // Σ_l ‖W_l‖_F
  for (const auto& l : linears) wnorm_total += l.linear->weight.to(torch::kFloat32).norm().item<double>();
  const double target_density = 1.0 - o.sparsity;  // d* = 1 − s

  // ---- data: packed blocks, shuffled per epoch with the seed (the same order on every rank)
  Tensor blocks = pack_training_blocks(tok, o.train_data, o.seqlen);
  const int64_t nblocks = blocks.size(0);
  std::mt19937_64 rng(uint64_t(o.seed));
  std::vector<int64_t> order(static_cast<size_t>(nblocks));
  size_t cursor = 0;
  if (resumed) {
    std::istringstream in(st.data_rng);
    in >> rng;
    order = st.order;
    cursor = size_t(st.cursor);
    LEAP_CHECK(int64_t(order.size()) == nblocks, "resume: the training data has %lld blocks, the checkpoint %zu",
               (long long)nblocks, order.size());
  } else {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
  }
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
  LEAP_INFO("LEAP: %lld masked weights in %zu linears; %lld training blocks of %lld tokens from %s; %lld steps x %lld sequences%s",
            (long long)total, linears.size(), (long long)nblocks, (long long)o.seqlen, o.train_data.c_str(),
            (long long)o.steps, (long long)o.global_batch,
            W > 1 ? strformat(" over %d ranks (%lld micro-batches of %lld each per step)", W,
                              (long long)(o.global_batch / o.micro_batch / W), (long long)o.micro_batch).c_str()
                  : "");

  MaskSchedule sched{o.tau_start, o.tau_end, o.kappa_start, o.kappa_end};
  const int64_t grad_acc = o.global_batch / o.micro_batch, T = o.steps;
  const int64_t local_acc = grad_acc / W, first_mb = int64_t(rank) * local_acc;  // this rank's micro-batches
  const bool autocast = dev.is_cuda() && m->dtype() == torch::kFloat32;  // bf16 autocast on CUDA
  std::string log_lines = resumed ? st.metrics : "";
  Stopwatch sw;
  double first_ce = resumed ? st.first_ce : 0, last_ce = 0;
  const int64_t start = resumed ? st.step : 0;
  int64_t t = start;
  auto snapshot = [&](int64_t step_done) {  // collective when sharded; rank 0 writes
    TrainState s;
    s.step = step_done;
    opt.gather(&s.theta, &s.exp_avg, &s.exp_avg_sq);
    if (main_rank) {
      s.cpu_rng = gen.get_state();
      std::ostringstream out;
      out << rng;
      s.data_rng = out.str();
      s.order = order;
      s.cursor = int64_t(cursor);
      s.fingerprint = fp;
      s.metrics = log_lines;
      s.first_ce = first_ce;
      save_train_state(ckpt_dir, names, s);
    }
    if (comm) comm->barrier();
  };
  reset_peak_rss();  // the training peak, without the prior's second model copy
  std::vector<double> step_seconds;  // wall time of each step of this invocation (benchmarks)
  for (; t < T; ++t) {
    Stopwatch step_sw;
    if (o.max_steps_per_run > 0 && t - start >= o.max_steps_per_run) break;
    const double tau = sched.tau(t, T), kappa = sched.kappa(t, T);
    const double lr = o.lr * lr_factor(t, o.warmup_steps, T);
    opt.zero_grad();
    Tensor batch = next_blocks(o.global_batch);  // [global_batch, seqlen], the same on every rank
    double ce_sum = 0, dens_sum = 0, r_sum = 0;
    for (int64_t j = 0; j < local_acc; ++j) {
      const int64_t a = first_mb + j;  // global micro-batch index
      if (j + 1 == local_acc) opt.arm_reduction();  // its backward completes this rank's gradients
      // fresh Gumbel-sigmoid sample for every micro-batch: M = σ((κθ + log u − log(1−u))/τ)   (§1.3)
      const size_t n_lin = linears.size();
      std::vector<LinearMask> masks(n_lin);
      std::vector<double> wnorms(n_lin);
      double msum_v = 0;
      for (size_t i = 0; i < n_lin; ++i) {
        MaskSample s = sample_mask(thetas[i], linears[i].linear->weight, kappa, tau, noise_seed(o.seed, t, a, i));
        masks[i].M = s.M;
        masks[i].theta = thetas[i];
        masks[i].scale = kappa / tau;
        msum_v += s.sum;        // Σ M
        wnorms[i] = s.wnorm;    // ‖M ⊙ W‖_F
      }
      // the regulariser (§1.5) is a function of ΣM and the ‖M_l ⊙ W_l‖ alone: its value and its
      // derivatives w.r.t. them, which the masked linears' backward carries on to θ (mask.h)
      Tensor msum = torch::tensor(msum_v, torch::kFloat64).requires_grad_(true);
      Tensor rnum = torch::tensor(wnorms, torch::kFloat64).requires_grad_(true);
      Tensor d = msum / double(total);        // d(M) = ΣM / ΣN
      Tensor R = rnum.sum() / wnorm_total;    // R(M) = Σ‖M⊙W‖ / Σ‖W‖
      // averaged over the global batch's micro-batches (this scale makes the sum over ranks the mean)
      Tensor reg = (o.sparse_reg * (d - target_density).abs() - o.weight_reg * (1.0 - double(t) / double(T)) * R) /
                   double(grad_acc);
      reg.backward();
      const double g_sum = msum.grad().item<double>();
      for (size_t i = 0; i < n_lin; ++i) {
        masks[i].g_sum = g_sum;
        masks[i].g_w2 = wnorms[i] > 0 ? rnum.grad()[int64_t(i)].item<double>() / wnorms[i] : 0.0;
      }
      Tensor x = batch.slice(0, a * o.micro_batch, (a + 1) * o.micro_batch).to(dev);
      auto rope = m->rope(o.seqlen);
      if (autocast) {
        at::autocast::set_autocast_enabled(at::kCUDA, true);
        at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
      }
      Tensor h = m->embed(x);
      for (int64_t li = 0; li < m->config().num_layers; ++li) {
        std::vector<LinearMask> block_masks;
        for (size_t i = 0; i < linears.size(); ++i)
          if (linears[i].layer == li) block_masks.push_back(masks[i]);
        if (o.grad_checkpoint) {
          h = checkpointed_block(*m, li, h, block_masks, rope);
        } else {
          size_t k = 0;
          for (size_t i = 0; i < linears.size(); ++i)
            if (linears[i].layer == li) linears[i].linear->mask = block_masks[k++];
          h = m->run_layer(li, h, rope);
        }
      }
      Tensor logits = m->head(h.slice(1, 0, o.seqlen - 1)).to(torch::kFloat32);  // [b, L−1, V]: the last position predicts nothing
      if (autocast) {
        at::autocast::set_autocast_enabled(at::kCUDA, false);
        at::autocast::clear_cache();
      }
      Tensor ce = torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}), x.slice(1, 1).reshape({-1}));
      Tensor loss = ce / double(grad_acc);  // its backward: the CE part; the regulariser's comes with it (above)
      double ce_v = ce.item<double>();
      if (!std::isfinite(ce_v) || !std::isfinite(reg.item<double>())) {
        // name where it starts: the masks, or the first block whose output is not finite
        std::string where = "in the loss terms";
        torch::NoGradGuard ng;
        for (size_t i = 0; i < masks.size() && where == "in the loss terms"; ++i)
          if (!torch::isfinite(masks[i].M).all().item<bool>()) where = "in the sampled mask of " + names[i];
        if (where == "in the loss terms") {
          Tensor hh = m->embed(x);
          if (!torch::isfinite(hh).all().item<bool>()) where = "in the embeddings";
          for (int64_t li = 0; li < m->config().num_layers && where == "in the loss terms"; ++li) {
            size_t k = 0;
            for (size_t i = 0; i < linears.size(); ++i)
              if (linears[i].layer == li) linears[i].linear->mask = LinearMask{masks[i].M, Tensor()}, ++k;
            hh = m->run_layer(li, hh, rope);
            if (!torch::isfinite(hh).all().item<bool>()) where = strformat("in the output of block %lld (model.layers.%lld)", (long long)li, (long long)li);
          }
          if (where == "in the loss terms" && !torch::isfinite(m->head(hh)).all().item<bool>()) where = "in the logits";
          for (auto& l : linears) l.linear->mask = LinearMask();
        }
        fail("LEAP step %lld, micro-batch %lld%s: non-finite loss (CE %g), first non-finite values %s; stopping (the "
             "last checkpoint, if any, is kept)",
             (long long)(t + 1), (long long)a, W > 1 ? strformat(" on rank %d", rank).c_str() : "", ce_v, where.c_str());
      }
      loss.backward();
      for (auto& l : linears) l.linear->mask = LinearMask();
      ce_sum += ce_v;
      dens_sum += d.item<double>();
      r_sum += R.item<double>();
    }
    opt.finish_reduction();  // θ gradients summed over ranks (bucket by bucket, overlapping backward)
    if (comm) {
      Tensor sums = torch::tensor({ce_sum, dens_sum, r_sum}, torch::TensorOptions().dtype(torch::kFloat64)).to(dev);
      comm->allreduce_sum(sums);
      sums = sums.cpu();
      ce_sum = sums[0].item<double>();
      dens_sum = sums[1].item<double>();
      r_sum = sums[2].item<double>();
    }
    const double gnorm = opt.clip_grad_norm(o.max_grad_norm);
    if (!std::isfinite(gnorm)) {
      std::string where;
      for (size_t i = 0; i < thetas.size() && where.empty(); ++i)
        if (!torch::isfinite(thetas[i].grad()).all().item<bool>()) where = names[i];
      fail("LEAP step %lld: non-finite mask-logit gradient%s%s; stopping (the last checkpoint, if any, is kept)",
           (long long)(t + 1), where.empty() ? "" : " in ", where.c_str());
    }
    opt.step(t + 1, lr);
    step_seconds.push_back(step_sw.seconds());
    double ce_mean = ce_sum / double(grad_acc);
    if (t == 0) first_ce = ce_mean;
    last_ce = ce_mean;
    if (main_rank && ((t + 1) % o.log_every == 0 || t == start || t + 1 == T)) {
      torch::NoGradGuard ng;
      int64_t pos = 0;
      for (const auto& th : thetas) pos += (th > 0).sum().item<int64_t>();
      double hard = double(pos) / double(total), soft = dens_sum / double(grad_acc);
      double el = sw.seconds(), tok_s = double((t + 1 - start) * o.global_batch * o.seqlen) / el;
      LEAP_INFO("step %lld/%lld | ce %.4f | density pen %.4f | soft density %.4f | hard density %.4f | tau %.3f | kappa %.1f | lr %.2e | %.0f tok/s | rss %.0f MiB | eta %s",
                (long long)(t + 1), (long long)T, ce_mean, o.sparse_reg * std::abs(soft - target_density), soft, hard, tau,
                kappa, lr, tok_s, rss_mib(), format_duration(el / double(t + 1 - start) * double(T - t - 1)).c_str());
      ojson per_block = ojson::array();
      std::vector<std::pair<int64_t, int64_t>> pb(size_t(m->config().num_layers));
      for (size_t i = 0; i < linears.size(); ++i) {
        pb[size_t(linears[i].layer)].first += (thetas[i] > 0).sum().item<int64_t>();
        pb[size_t(linears[i].layer)].second += thetas[i].numel();
      }
      for (auto& [p, n] : pb) per_block.push_back(double(p) / double(n));
      ojson rec = {{"step", t + 1}, {"ce", ce_mean}, {"density_penalty", o.sparse_reg * std::abs(soft - target_density)},
                   {"soft_density", soft}, {"hard_density", hard}, {"weight_reward", r_sum / double(grad_acc)},
                   {"grad_norm", gnorm}, {"tau", tau}, {"kappa", kappa}, {"lr", lr}, {"tokens_per_s", tok_s},
                   {"rss_mib", rss_mib()}, {"ranks", W}, {"block_hard_density", per_block}};
      log_lines += rec.dump() + "\n";
      if (!o.log_file.empty()) write_file_atomic(o.log_file, log_lines);
    }
    if (o.save_every > 0 && (t + 1) % o.save_every == 0 && t + 1 < T) snapshot(t + 1);
  }
  release_mask_buffers();
  // peak resident memory of each rank while training (rank 0 logs them all)
  Tensor peaks = torch::zeros({W}, torch::TensorOptions().dtype(torch::kFloat64));
  peaks[rank] = peak_rss_mib();
  if (comm) {
    Tensor p = peaks.to(dev);
    comm->allreduce_sum(p);
    peaks = p.cpu();
  }
  std::string peak_list;
  for (int r = 0; r < W; ++r) peak_list += strformat("%s%.0f", r ? ", " : "", peaks[r].item<double>());
  if (t > start) LEAP_INFO("peak resident memory while training: %s MiB%s; mask state %.1f MiB per rank", peak_list.c_str(),
                           W > 1 ? " (ranks 0..)" : "", double(opt.state_bytes()) / (1024.0 * 1024.0));
  LeapResult res;
  opt.gather(&res.theta, nullptr, nullptr);  // float32 (the master copy where θ is bfloat16)
  if (t < T) {  // stopped by --max_steps_per_run
    snapshot(t);
    LEAP_INFO("stopped after step %lld of %lld; checkpoint in %s (continue with --resume)", (long long)t, (long long)T,
              ckpt_dir.c_str());
    res.summary = {{"stopped_at_step", t}, {"ckpt_dir", ckpt_dir}};
    return res;
  }
  res.finished = true;

  // ---- final hard mask   (§1.7)
  torch::NoGradGuard ng;
  if (o.final_mask == "exact") {  // global top-k over θ at the target density
    std::vector<Tensor> flat;
    for (const auto& th : res.theta) flat.push_back(th.flatten());
    Tensor all = torch::cat(flat);
    int64_t keep_n = total - int64_t(double(total) * o.sparsity);
    Tensor sorted = std::get<0>(all.sort(/*stable=*/true, 0, /*descending=*/true));
    double thresh = keep_n > 0 ? sorted[keep_n - 1].item<double>() : std::numeric_limits<double>::infinity();
    // ties at the threshold: keep the earliest (stable order) so the count is exact
    int64_t ties_to_keep = keep_n - (all > thresh).sum().item<int64_t>();
    for (size_t i = 0; i < linears.size(); ++i) {
      const Tensor& th = res.theta[i];
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
    for (size_t i = 0; i < linears.size(); ++i) res.keep[linears[i].name] = res.theta[i] > 0;
  }
  for (auto& l : linears) l.linear->weight.mul_(res.keep[l.name].to(dev).to(l.linear->weight.scalar_type()));
  res.summary = {{"steps", T}, {"global_batch", o.global_batch}, {"micro_batch", o.micro_batch}, {"seqlen", o.seqlen},
                 {"train_data", o.train_data}, {"final_mask", o.final_mask}, {"first_step_ce", first_ce},
                 {"last_step_ce", last_ce}, {"train_seconds", sw.seconds()}, {"resumed_from_step", start},
                 {"grad_checkpoint", o.grad_checkpoint}, {"mask_dtype", o.mask_dtype}, {"ranks", W},
                 {"shard_optimizer", ao.shard}, {"peak_rss_mib_per_rank", std::vector<double>(peaks.data_ptr<double>(), peaks.data_ptr<double>() + W)},
                 {"mask_state_mib_per_rank", double(opt.state_bytes()) / (1024.0 * 1024.0)}};
  res.step_seconds = step_seconds;
  return res;
}

}  // namespace leap
