// trainer.cpp — see trainer.h. The equations of docs/METHOD.md §1 stand beside the lines that implement them.
#include "leap/trainer.h"

#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "base/option_visitors.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "base/table.h"
#include "leap/bucketed_adamw.h"
#include "leap/distributed.h"
#include "leap/final_mask.h"
#include "leap/train_data.h"
#include "leap/train_state.h"
#include "model/device.h"
#include "model/device_mask.h"
#include "model/grad_checkpoint.h"
#include "model/lm_loss.h"
#include "model/mask.h"
#include "model/model.h"
#include "model/nm_mask.h"

namespace leap {
using torch::Tensor;
using ojson = nlohmann::ordered_json;

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

const char* const kFloat16Refusal =
    "LEAP does not train a float16 model: without loss scaling the CE gradient (divided over the micro-batches) "
    "underflows in float16; use --dtype bfloat16 or float32";

namespace {

void check_options(const TrainOptions& o, int W) {
  LEAP_CHECK(o.steps >= 1, "--steps must be at least 1");
  LEAP_CHECK(o.micro_batch >= 1 && o.global_batch >= o.micro_batch && o.global_batch % o.micro_batch == 0,
             "--global_batch (%lld) must be a positive multiple of --micro_batch (%lld)", (long long)o.global_batch,
             (long long)o.micro_batch);
  LEAP_CHECK((o.global_batch / o.micro_batch) % W == 0,
             "--global_batch (%lld) must be a multiple of --micro_batch x ranks (%lld x %d): every rank runs the same "
             "number of micro-batches",
             (long long)o.global_batch, (long long)o.micro_batch, W);
  LEAP_CHECK(o.final_mask == "exact" || o.final_mask == "threshold", "--final_mask must be exact or threshold");
  LEAP_CHECK(o.distill_weight >= 0 && o.distill_weight <= 1, "--distill_weight must lie in [0, 1] (got %g)",
             o.distill_weight);
  moments_8bit(o);  // a valid --optim
  LEAP_CHECK(o.distill_temperature > 0, "--distill_temperature must be positive (got %g)", o.distill_temperature);
  LEAP_CHECK(o.distill_topk >= 0, "--distill_topk must be 0 (all) or positive (got %lld)", (long long)o.distill_topk);
  if ((o.save_every > 0 || o.resume || o.max_steps_per_run > 0) && o.ckpt_dir.empty())
    fail("--save_every / --resume / --max_steps_per_run need --ckpt_dir (or --save_model)");
}

// What identifies a run for --resume: every setting that changes the result (a resume with one of
// them changed would mix two runs), from TrainOptions' own field list so that a new flag is in it
// by default. Left out: where checkpoints go and how often, logging, and the memory-only choices
// (recomputation, optimizer sharding, bucket size: the same result up to summation order); the
// text is identified by its sha256 in ctx.fingerprint, not by its path.
nlohmann::json run_fingerprint(const TrainOptions& o, const TrainContext& ctx) {
  static const std::set<std::string> kNotResult = {
      "train_data",   "log_every",         "log_file",        "save_every",      "ckpt_dir",
      "resume",       "max_steps_per_run", "grad_checkpoint", "shard_optimizer", "bucket_mib",
      "data_workers", "data_timeout",      "mask_path"};  // the two mask paths compute the same values (device_mask.h):
                                                          // a run may resume on the other
  nlohmann::json fp = ctx.fingerprint.is_object() ? ctx.fingerprint : nlohmann::json::object();
  TrainOptions settings = o;  // visit() is not const
  const nlohmann::ordered_json all = config_json(settings);
  for (const auto& [k, v] : all.items())
    if (!kNotResult.count(k)) fp[k] = v;
  fp["sparsity"] = ctx.sparsity;
  fp["seed"] = ctx.seed;
  if (ctx.nm_m > 0) fp["sparsity_type"] = std::to_string(ctx.nm_n) + ":" + std::to_string(ctx.nm_m);
  return fp;
}

// The decoder linears in layer order, and which of them belong to each block.
struct MaskedLinears {
  std::vector<CausalLMImpl::NamedLinear> all;
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;        // the weights' [out, in]
  std::vector<std::vector<int64_t>> theta_shapes;  // θ's: [out, in], or [out, in/M, C] for N:M patterns [C, M]
  std::vector<std::vector<size_t>> of_block;       // of_block[l]: indices into `all` of block l's linears
  int64_t weights = 0;                             // Σ numel(W_l)
};

MaskedLinears masked_linears(CausalLM& m, const Tensor& patterns) {
  MaskedLinears L;
  L.all = m->decoder_linears();
  L.of_block.resize(size_t(m->config().num_layers));
  for (size_t i = 0; i < L.all.size(); ++i) {
    L.names.push_back(L.all[i].name);
    std::vector<int64_t> s = L.all[i].linear->weight.sizes().vec();
    L.shapes.push_back(s);
    L.weights += s[0] * s[1];
    if (patterns.defined()) {
      const int64_t M = patterns.size(1);
      LEAP_CHECK(s[1] % M == 0, "learnable N:M masks: %s has %lld inputs, not a multiple of M = %lld",
                 L.names[i].c_str(), (long long)s[1], (long long)M);
      s = {s[0], s[1] / M, patterns.size(0)};
    }
    L.theta_shapes.push_back(s);
    L.of_block[size_t(L.all[i].layer)].push_back(i);
  }
  return L;
}

// θ from the Wanda prior: θ ~ N(0, σ0²) + strength·std(θ)·(±1)   (docs/METHOD.md §1.3); for N:M
// patterns MaskLLM's overlap prior (nm_mask.h). The prior is computed on rank 0 and its keep masks
// broadcast (the same masks as one process).
std::vector<Tensor> initial_logits(const MaskedLinears& L, const PriorFn& make_prior, const TrainOptions& o,
                                   const Tensor& patterns, int64_t nm_n, at::Generator& gen, Comm* comm,
                                   const torch::Device& dev) {
  const bool main_rank = !comm || comm->main();
  std::map<std::string, Tensor> prior;
  if (main_rank) prior = make_prior();
  std::vector<Tensor> init;
  for (size_t i = 0; i < L.all.size(); ++i) {
    Tensor keep;
    if (main_rank) {
      auto it = prior.find(L.names[i]);
      LEAP_CHECK(it != prior.end(), "no prior mask for %s", L.names[i].c_str());
      keep = it->second;
    }
    if (comm) {
      Tensor k = main_rank ? keep.to(dev).to(torch::kUInt8).contiguous()
                           : torch::empty(L.shapes[i], torch::TensorOptions().dtype(torch::kUInt8).device(dev));
      comm->broadcast(k, 0);
      keep = k.to(torch::kBool).cpu();  // θ is drawn on the CPU from the CPU generator, as in one process
    }
    init.push_back(patterns.defined() ? init_nm_logits(keep.cpu(), patterns, nm_n, o.init_std, o.prior_strength, gen)
                                      : init_logits(keep, o.init_std, o.prior_strength, gen));
  }
  return init;
}

// The data order: packed blocks, shuffled with the seed at the start of every epoch (the same
// order on every rank); its state goes into training checkpoints.
class BlockSampler {
 public:
  BlockSampler(TrainingData data, uint64_t seed) : data_(std::move(data)), rng_(seed), order_(size_t(data_.size())) {
    std::iota(order_.begin(), order_.end(), 0);
    std::shuffle(order_.begin(), order_.end(), rng_);
  }
  void restore(const TrainState& st) {
    std::istringstream in(st.data_rng);
    in >> rng_;
    LEAP_CHECK(st.order.size() == order_.size(), "resume: the training data has %zu blocks, the checkpoint %zu",
               order_.size(), st.order.size());
    order_ = st.order;
    cursor_ = size_t(st.cursor);
  }
  void save(TrainState& st) const {
    std::ostringstream out;
    out << rng_;
    st.data_rng = out.str();
    st.order = order_;
    st.cursor = int64_t(cursor_);
  }
  Tensor next(int64_t n) {  // [n, seqlen]
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < n; ++i) {
      if (cursor_ == order_.size()) {
        std::shuffle(order_.begin(), order_.end(), rng_);
        cursor_ = 0;
      }
      idx.push_back(order_[cursor_++]);
    }
    return data_.gather(idx);
  }
  int64_t size() const { return data_.size(); }
  const TrainingData& data() const { return data_; }

 private:
  TrainingData data_;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
  size_t cursor_ = 0;
};

// The regulariser's constants (docs/METHOD.md §1.1).
struct Regulariser {
  double masked = 0;            // ΣN: masked weights
  double wnorm_total = 0;       // Σ_l ‖W_l‖_F
  double target_density = 0.5;  // d* = 1 − s
  double sparse_reg = 0, weight_reg = 0;
  int64_t grad_acc = 1;  // micro-batches per step (the loss terms are averaged over them)
};

// One micro-batch's sampled masks, with the regulariser's gradient w.r.t. ΣM and ‖M_l ⊙ W_l‖
// already attached for the masked linears' backward to carry on to θ (mask.h).
struct MicroBatchMasks {
  std::vector<LinearMask> masks;
  double density = 0, reward = 0, reg = 0;  // d(M), R(M) and the regulariser's value
  Tensor stats;  // the device-resident path: [d(M), R(M), regulariser] float64 on the device; the doubles unset
};

// The regulariser from ΣM (a scalar) and the ‖M_l ⊙ W_l‖ ([n]), float64 tensors on any device: its
// value and its derivatives w.r.t. them (autograd on this small scalar graph; no host read).
struct RegulariserValue {
  Tensor d, R, reg;  // d(M), R(M), the regulariser
  Tensor g_sum, g_w2;  // ∂reg/∂ΣM (a scalar); (∂reg/∂‖M_l⊙W_l‖) / ‖M_l⊙W_l‖ per linear (0 where the norm is 0)
};
RegulariserValue regulariser(const Regulariser& g, const Tensor& msum_value, const Tensor& rnum_value,
                             double progress) {
  Tensor msum = msum_value.detach().requires_grad_(true);
  Tensor rnum = rnum_value.detach().requires_grad_(true);
  Tensor d = msum / g.masked;             // d(M) = ΣM / ΣN
  Tensor R = rnum.sum() / g.wnorm_total;  // R(M) = Σ‖M⊙W‖ / Σ‖W‖
  // λ_s·|d − d*| − λ_w·(1 − t/T)·R, averaged over the global batch's micro-batches (this scale
  // makes the sum over ranks the mean)
  Tensor reg = (g.sparse_reg * (d - g.target_density).abs() - g.weight_reg * (1.0 - progress) * R) / double(g.grad_acc);
  reg.backward();
  Tensor rn = rnum.detach();
  Tensor g_w2 = torch::where(rn > 0, rnum.grad() / rn.clamp_min(1e-300), torch::zeros_like(rn));
  return {d.detach(), R.detach(), reg.detach(), msum.grad(), g_w2};
}

MicroBatchMasks sample_micro_batch_masks(const MaskedLinears& L, const BucketedAdamW& opt, const Tensor& patterns,
                                         const Regulariser& g, double kappa, double tau, double progress,
                                         const std::function<uint64_t(size_t)>& seed_of) {
  const std::vector<Tensor>& thetas = opt.params();
  const size_t n = L.all.size();
  MicroBatchMasks mb;
  mb.masks.resize(n);
  std::vector<double> wnorms(n);
  double msum_v = 0;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& w = L.all[i].linear->weight;
    MaskSample s;
    if (patterns.defined()) {  // N:M: p = softmax((κθ + g)/τ), M = Σ_k p_k·pattern_k   (docs/METHOD.md §1.11)
      NmSample ns = sample_nm_mask(thetas[i], w, patterns, kappa, tau, seed_of(i));
      s.M = ns.M, s.sum = ns.sum, s.wnorm = ns.wnorm;
      mb.masks[i].P = ns.P;
      mb.masks[i].patterns = patterns;
    } else {  // fresh Gumbel-sigmoid sample: M = σ((κθ + log u − log(1−u))/τ)   (docs/METHOD.md §1.2)
      s = sample_mask(thetas[i], w, kappa, tau, seed_of(i), /*with_product=*/true);
      mb.masks[i].WM = s.WM;                           // W ⊙ M from the same pass (the fused CPU sampler)
      mb.masks[i].grad = opt.grad_leaves()[i].grad();  // dL/dθ added into the float32 gradient bucket
      mb.masks[i].grad_ready = opt.grad_ready(i);
    }
    mb.masks[i].M = s.M;
    mb.masks[i].theta = opt.grad_leaves()[i];  // the autograd input; N:M: dL/dθ goes to the bucket through it
    mb.masks[i].scale = kappa / tau;
    msum_v += s.sum;      // Σ M
    wnorms[i] = s.wnorm;  // ‖M ⊙ W‖_F
  }
  const RegulariserValue r =
      regulariser(g, torch::tensor(msum_v, torch::kFloat64), torch::tensor(wnorms, torch::kFloat64), progress);
  const double g_sum = r.g_sum.item<double>();
  for (size_t i = 0; i < n; ++i) {
    mb.masks[i].g_sum = g_sum;
    mb.masks[i].g_w2 = r.g_w2[int64_t(i)].item<double>();
  }
  mb.density = r.d.item<double>();
  mb.reward = r.R.item<double>();
  mb.reg = r.reg.item<double>();
  return mb;
}

// The same on the device-resident path (device_mask.h): W ⊙ M in the compute dtype, the statistics
// and the regulariser's coefficients stay on θ's device; nothing is read on the host.
MicroBatchMasks sample_device_micro_batch_masks(const MaskedLinears& L, const BucketedAdamW& opt, const Regulariser& g,
                                                torch::ScalarType compute, double kappa, double tau, double progress,
                                                const std::function<uint64_t(size_t)>& seed_of) {
  const std::vector<Tensor>& thetas = opt.params();
  const size_t n = L.all.size();
  MicroBatchMasks mb;
  mb.masks.resize(n);
  std::vector<Tensor> stats(n);
  for (size_t i = 0; i < n; ++i) {  // M = σ((κθ + log u − log(1−u))/τ), kept only as W ⊙ M   (docs/METHOD.md §1.2)
    LinearMask& m = mb.masks[i];
    m.seed = seed_of(i);
    DeviceMaskSample s = sample_device_mask(thetas[i], L.all[i].linear->weight, compute, kappa, tau, m.seed);
    m.WM = s.WM;
    m.logits = thetas[i];
    m.theta = opt.grad_leaves()[i];  // an autograd input, so that backward runs for θ
    m.grad = m.theta.grad();         // dL/dθ: added into the float32 gradient bucket by the gradient kernel
    m.grad_ready = opt.grad_ready(i);
    m.kappa = kappa, m.tau = tau, m.scale = kappa / tau;
    stats[i] = s.stats;  // ΣM_l, Σ(M_l·W_l)²
  }
  Tensor S = torch::stack(stats);  // [n, 2] float64
  const RegulariserValue r = regulariser(g, S.select(1, 0).sum(), S.select(1, 1).sqrt(), progress);
  Tensor coef = torch::stack({r.g_sum.expand({int64_t(n)}), r.g_w2}, 1).to(torch::kFloat32);  // [n, 2]
  for (size_t i = 0; i < n; ++i) mb.masks[i].coef = coef[int64_t(i)];
  mb.stats = torch::stack({r.d, r.R, r.reg});
  return mb;
}

// Where a non-finite loss starts: the sampled masks, or the first block whose output is not
// finite (a no-grad forward with the same masks).
std::string locate_non_finite(CausalLM& m, MaskedLinears& L, const std::vector<LinearMask>& masks, const Tensor& x,
                              const std::pair<RopeTables, RopeTables>& rope) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < masks.size(); ++i)
    if (!torch::isfinite(masks[i].M.defined() ? masks[i].M : masks[i].WM).all().item<bool>())
      return "in the sampled mask of " + L.names[i];
  std::string where = "in the loss terms";
  Tensor h = m->embed(x);
  if (!torch::isfinite(h).all().item<bool>()) where = "in the embeddings";
  for (int64_t li = 0; li < m->config().num_layers && where == "in the loss terms"; ++li) {
    for (size_t i : L.of_block[size_t(li)]) {  // the same masks, forward only
      LinearMask lm = masks[i];
      lm.theta = lm.grad = Tensor();
      L.all[i].linear->mask = lm;
    }
    h = m->run_layer(li, h, rope);
    if (!torch::isfinite(h).all().item<bool>())
      where = strformat("in the output of block %lld (model.layers.%lld)", (long long)li, (long long)li);
  }
  if (where == "in the loss terms" && !torch::isfinite(m->head(h)).all().item<bool>()) where = "in the logits";
  for (auto& l : L.all) l.linear->mask = LinearMask();
  return where;
}

// Sums of one optimizer step's micro-batches (over all ranks after reduce()).
struct StepSums {
  double ce = 0, density = 0, reward = 0, kl = 0;  // kl: distillation (0 when off)
  // the device-resident path: one row [CE, d(M), R(M), regulariser] per micro-batch, on the device
  // until the step's single host read fills the doubles above
  std::vector<Tensor> rows;
};

class Trainer {
 public:
  Trainer(CausalLM& m, const Tokenizer& tok, const TrainOptions& o, const TrainContext& ctx);
  LeapResult run(const PriorFn& make_prior);

 private:
  void start(const PriorFn& make_prior);  // fresh from the prior, or resumed
  void step(int64_t t, double kappa, double tau, double lr);
  void micro_batch(int64_t t, int64_t a, const Tensor& x, double kappa, double tau, StepSums& sums);
  MicroBatchMasks sample_masks(int64_t t, int64_t a, double kappa, double tau);
  // the device-resident path: the step's sums (over ranks) and gradient norm in one host read; a
  // non-finite loss is reported naming its micro-batch (batch: the step's sequences)
  double read_step_sums(int64_t t, const Tensor& batch, double kappa, double tau, StepSums& sums);
  void fail_non_finite(int64_t t, int64_t a, double ce, double kl, const std::vector<LinearMask>& masks,
                       const Tensor& x);
  void log_step(int64_t t, const StepSums& sums, double gnorm, double kappa, double tau, double lr);
  void snapshot(int64_t step_done);  // collective when sharded; rank 0 writes
  // the weights each linear keeps if training ended now (θ > 0; N:M: N per group), in one host read
  std::vector<int64_t> hard_kept() const;
  std::vector<double> per_rank(double value);  // every rank's value, on every rank

  CausalLM& m_;
  const Tokenizer& tok_;
  const TrainOptions& o_;
  TrainContext ctx_;
  Comm* comm_;
  int W_ = 1, rank_ = 0;
  bool main_rank_ = true;
  torch::Device dev_;
  MaskedLinears L_;
  TextSource source_;
  nlohmann::json fp_;
  at::Generator gen_;
  std::unique_ptr<BucketedAdamW> opt_;
  std::unique_ptr<BlockSampler> data_;
  Regulariser reg_;
  MaskSchedule sched_;
  Tensor patterns_;  // learnable N:M: the C(M,N) patterns [C, M] (nm_mask.h); undefined: unstructured
  bool resumed_ = false;
  bool autocast_ = false;                   // float32 model on CUDA: bf16 autocast
  bool device_masks_ = false;               // the device-resident mask path (device_mask.h; --mask_path)
  std::pair<RopeTables, RopeTables> rope_;  // the rotary tables of --seqlen, made once (no copy per micro-batch)
  int64_t T_ = 0, local_acc_ = 1, first_mb_ = 0, start_ = 0;
  std::string log_lines_;
  double first_ce_ = 0, last_ce_ = 0;
  Stopwatch sw_;  // since the end of start()
};

Trainer::Trainer(CausalLM& m, const Tokenizer& tok, const TrainOptions& o, const TrainContext& ctx)
    : m_(m),
      tok_(tok),
      o_(o),
      ctx_(ctx),
      comm_(ctx.comm),
      dev_(m->device()),
      gen_(at::make_generator<at::CPUGeneratorImpl>(uint64_t(ctx.seed))),  // initial logits
      sched_{o.tau_start, o.tau_end, o.kappa_start, o.kappa_end} {
  W_ = comm_ ? comm_->world() : 1;
  rank_ = comm_ ? comm_->rank() : 0;
  main_rank_ = rank_ == 0;
  if (W_ == 1) comm_ = nullptr;
  check_options(o, W_);
  const torch::Dtype mask_dtype = parse_dtype(o.mask_dtype);
  LEAP_CHECK(mask_dtype == torch::kFloat32 || mask_dtype == torch::kBFloat16,
             "--mask_dtype must be float32 or bfloat16 (got %s)", o.mask_dtype.c_str());
  LEAP_CHECK(m->dtype() != torch::kFloat16, "%s", kFloat16Refusal);
  if (ctx.nm_m > 0) patterns_ = nm_patterns(ctx.nm_n, ctx.nm_m);
  L_ = masked_linears(m, patterns_);
  source_ = resolve_training_source(o);
  fp_ = run_fingerprint(o, ctx);
  // θ in flat buckets (replicated or sharded AdamW)
  BucketedAdamWOptions ao;
  ao.beta1 = o.beta1;
  ao.beta2 = o.beta2;
  ao.weight_decay = o.weight_decay;
  ao.shard = o.shard_optimizer && W_ > 1;
  ao.bucket_mib = o.bucket_mib;
  ao.moments_8bit = moments_8bit(o);
  if (o.shard_optimizer && W_ == 1) LEAP_WARN("--shard_optimizer has no effect in a single process");
  opt_ = std::make_unique<BucketedAdamW>(L_.theta_shapes, mask_dtype, dev_, ao, comm_);
  T_ = o.steps;
  reg_.grad_acc = o.global_batch / o.micro_batch;
  local_acc_ = reg_.grad_acc / W_;
  first_mb_ = int64_t(rank_) * local_acc_;  // this rank's micro-batches of each step
  autocast_ = dev_.is_cuda() && m->dtype() == torch::kFloat32;
  LEAP_CHECK(o.mask_path == "auto" || o.mask_path == "host" || o.mask_path == "device",
             "--mask_path must be auto, host or device (got '%s')", o.mask_path.c_str());
  device_masks_ = o.mask_path == "device" ||
                  (o.mask_path == "auto" && dev_.is_cuda() && !patterns_.defined() && device_masks_available(dev_));
  if (device_masks_) {
    LEAP_CHECK(!patterns_.defined(), "--mask_path device: learnable N:M masks take the host path (--mask_path host)");
    LEAP_CHECK(device_masks_available(dev_),
               "--mask_path device on %s: this build has no CUDA mask kernels (nvcc "
               "was not found when it was configured); use --mask_path host",
               dev_.str().c_str());
  }
}

void Trainer::start(const PriorFn& make_prior) {
  // the text first: a bad source fails before minutes of prior
  data_ = std::make_unique<BlockSampler>(load_training_data(tok_, o_, source_, rank_), uint64_t(ctx_.seed));
  // the tokens themselves, not the files' paths or times: a fresh clone or a copied dataset resumes
  fp_["train_data"] = data_->data().cache.tokens_sha256();
  const int64_t consumed = o_.steps * o_.global_batch;
  if (main_rank_) {
    if (log::level() <= log::Level::info) log::out(format_table("LEAP training data", data_->data().summary(consumed)));
    if (data_->data().epochs(consumed) > 1.0)
      LEAP_WARN(
          "LEAP will read its training text %.3g times (%lld steps x %lld sequences of %lld tokens, %lld blocks): more "
          "than one epoch, unlike the reference's single pass; pass more --train_data for a real run",
          data_->data().epochs(consumed), (long long)o_.steps, (long long)o_.global_batch, (long long)o_.seqlen,
          (long long)data_->size());
  }
  TrainState st;  // what a resumed run continues from; only read here (θ and moments are copied into the buckets)
  resumed_ = o_.resume && load_latest_train_state(o_.ckpt_dir, L_.names, fp_, st);  // every rank reads it
  if (resumed_) {
    opt_->set_theta(st.theta);
    opt_->set_moments(st.moments);
    gen_.set_state(st.cpu_rng);
    LEAP_INFO("resumed from %s/step_%08lld", o_.ckpt_dir.c_str(), (long long)st.step);
  } else {
    if (o_.resume) LEAP_INFO("--resume: no checkpoint in %s, starting from step 0", o_.ckpt_dir.c_str());
    opt_->set_theta(initial_logits(L_, make_prior, o_, patterns_, ctx_.nm_n, gen_, comm_, dev_));
  }
  LEAP_INFO("LEAP state: %s", opt_->describe().c_str());
  reg_.masked = double(L_.weights);
  for (const auto& l : L_.all) reg_.wnorm_total += l.linear->weight.to(torch::kFloat32).norm().item<double>();
  reg_.target_density = 1.0 - ctx_.sparsity;                    // d* = 1 − s
  reg_.sparse_reg = patterns_.defined() ? 0.0 : o_.sparse_reg;  // N:M fixes the density at N/M: no penalty
  if (patterns_.defined() && o_.sparse_reg > 0)
    LEAP_INFO("learnable %lld:%lld masks: every soft group keeps exactly %lld of %lld, so the density penalty is off",
              (long long)ctx_.nm_n, (long long)ctx_.nm_m, (long long)ctx_.nm_n, (long long)ctx_.nm_m);
  reg_.weight_reg = o_.weight_reg;

  if (resumed_) data_->restore(st);
  log_lines_ = resumed_ ? st.metrics : "";
  first_ce_ = resumed_ ? st.first_ce : 0;
  start_ = resumed_ ? st.step : 0;
  LEAP_INFO(
      "LEAP: %lld masked weights in %zu linears%s; %lld training blocks of %lld tokens from %s; %lld steps x %lld "
      "sequences%s",
      (long long)L_.weights, L_.all.size(),
      patterns_.defined() ? strformat(" (%lld:%lld, %lld pattern logits per group of %lld)", (long long)ctx_.nm_n,
                                      (long long)ctx_.nm_m, (long long)patterns_.size(0), (long long)ctx_.nm_m)
                                .c_str()
                          : "",
      (long long)data_->size(), (long long)o_.seqlen, o_.train_data.c_str(), (long long)o_.steps,
      (long long)o_.global_batch,
      W_ > 1 ? strformat(" over %d ranks (%lld micro-batches of %lld each per step)", W_, (long long)local_acc_,
                         (long long)o_.micro_batch)
                   .c_str()
             : "");
  rope_ = m_->rope(o_.seqlen);
  sw_ = Stopwatch();  // training time (tokens/s, ETA, train_seconds) starts here, after the prior
}

// One micro-batch: masks, forward through every block with them, CE, backward; adds to `sums`.
void Trainer::micro_batch(int64_t t, int64_t a, const Tensor& x, double kappa, double tau, StepSums& sums) {
  // the RECORD_USER_SCOPE blocks name the phases for LibTorch's profiler (leap_bench --only profile)
  MicroBatchMasks mb;
  {
    RECORD_USER_SCOPE("leap::sample_masks");
    mb = sample_masks(t, a, kappa, tau);
  }
  const auto& rope = rope_;
  if (autocast_) {
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  }
  Tensor ht;  // the dense teacher's last hidden states: no mask is set yet, no graph is kept
  Tensor h;
  {
    RECORD_USER_SCOPE("leap::forward");
    if (o_.distill_weight > 0) {
      torch::NoGradGuard ng;
      ht = m_->hidden(x);
    }
    h = m_->embed(x);
    for (int64_t li = 0; li < m_->config().num_layers; ++li) {
      const std::vector<size_t>& idx = L_.of_block[size_t(li)];
      if (o_.grad_checkpoint) {
        std::vector<LinearMask> block_masks;
        for (size_t i : idx) block_masks.push_back(mb.masks[i]);
        h = recomputed_block(*m_, li, h, block_masks, rope);
      } else {
        for (size_t i : idx) L_.all[i].linear->mask = mb.masks[i];
        h = m_->run_layer(li, h, rope);
      }
    }
  }
  // mean CE of positions 0..L−2 predicting tokens 1..L−1 (the last position predicts nothing), the
  // LM head chunk by chunk: no [b, L−1, V] logits tensor
  Tensor ce;  // the loss this micro-batch trains on: CE, or (1 − a)·CE + a·τ²·KL when distilling
  double ce_v = 0, kl_v = 0;
  {
    RECORD_USER_SCOPE("leap::loss");
    if (o_.distill_weight > 0) {
      DistillLoss dl =
          next_token_distill_loss(m_, h.slice(1, 0, o_.seqlen - 1), x.slice(1, 1), ht.slice(1, 0, o_.seqlen - 1),
                                  o_.distill_weight, o_.distill_temperature, o_.distill_topk);
      ce = dl.loss;
      ce_v = dl.ce;
      kl_v = dl.kl;
    } else {
      ce = next_token_cross_entropy(m_, h.slice(1, 0, o_.seqlen - 1), x.slice(1, 1));
      if (!device_masks_) ce_v = ce.item<double>();  // the device path reads it at the step's end
    }
  }
  ht = Tensor();
  if (autocast_) {
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }
  Tensor loss = ce / double(reg_.grad_acc);  // its backward: the CE part; the regulariser's comes with it
  if (device_masks_ && o_.distill_weight > 0 && (!std::isfinite(ce_v) || !std::isfinite(kl_v)))
    fail_non_finite(t, a, ce_v, kl_v, mb.masks, x);  // distillation's CE and KL are read here already
  if (device_masks_) {                               // [CE, d, R, regulariser], read with the step's gradient norm
    Tensor ce_d = o_.distill_weight > 0 ? torch::full({}, ce_v, mb.stats.options()) : ce.detach().to(torch::kFloat64);
    sums.rows.push_back(torch::cat({ce_d.reshape({1}), mb.stats}));
  } else if (!std::isfinite(ce_v) || !std::isfinite(kl_v) || !std::isfinite(mb.reg)) {
    fail_non_finite(t, a, ce_v, kl_v, mb.masks, x);
  }
  {
    RECORD_USER_SCOPE("leap::backward");
    loss.backward();
  }
  for (auto& l : L_.all) l.linear->mask = LinearMask();
  if (o_.grad_checkpoint) release_recomputed_blocks();  // their backward has run
  sums.ce += ce_v;
  sums.kl += kl_v;
  sums.density += mb.density;
  sums.reward += mb.reward;
}

MicroBatchMasks Trainer::sample_masks(int64_t t, int64_t a, double kappa, double tau) {
  const double progress = double(t) / double(T_);
  auto seed_of = [&](size_t i) { return noise_seed(ctx_.seed, t, a, i); };
  if (device_masks_)  // W ⊙ M in the linears' matmul dtype: bf16 under autocast, else the weights'
    return sample_device_micro_batch_masks(L_, *opt_, reg_, autocast_ ? torch::kBFloat16 : m_->dtype(), kappa, tau,
                                           progress, seed_of);
  return sample_micro_batch_masks(L_, *opt_, patterns_, reg_, kappa, tau, progress, seed_of);
}

void Trainer::fail_non_finite(int64_t t, int64_t a, double ce, double kl, const std::vector<LinearMask>& masks,
                              const Tensor& x) {
  (void)kl;
  fail(
      "LEAP step %lld, micro-batch %lld%s: non-finite loss (CE %g), first non-finite values %s; stopping (the "
      "last checkpoint, if any, is kept)",
      (long long)(t + 1), (long long)a, W_ > 1 ? strformat(" on rank %d", rank_).c_str() : "", ce,
      locate_non_finite(m_, L_, masks, x, rope_).c_str());
}

double Trainer::read_step_sums(int64_t t, const Tensor& batch, double kappa, double tau, StepSums& sums) {
  Tensor rows = torch::stack(sums.rows);  // [micro-batches, 4]: CE, d, R, regulariser
  sums.rows.clear();
  // [5]: the sums and distillation's KL (a fill, not a copy: a copy from the host would wait for the device)
  Tensor total = torch::cat({rows.sum(0), torch::full({1}, sums.kl, rows.options())});
  if (comm_) comm_->allreduce_sum(total);
  Tensor side = torch::cat({total, rows.flatten()});
  const double gnorm = opt_->clip_grad_norm(o_.max_grad_norm, &side);  // the step's one host read
  const auto h = side.accessor<double, 1>();
  for (int64_t j = 0; j < local_acc_; ++j) {  // a non-finite loss: the first micro-batch that had one
    const double ce = h[5 + 4 * j], reg = h[5 + 4 * j + 3];
    if (std::isfinite(ce) && std::isfinite(reg)) continue;
    const int64_t a = first_mb_ + j;
    Tensor x = batch.slice(0, a * o_.micro_batch, (a + 1) * o_.micro_batch);
    fail_non_finite(t, a, ce, 0, sample_masks(t, a, kappa, tau).masks, x);  // the same masks again (same seeds)
  }
  sums.ce = h[0], sums.density = h[1], sums.reward = h[2], sums.kl = h[4];
  return gnorm;
}

void Trainer::step(int64_t t, double kappa, double tau, double lr) {
  opt_->zero_grad();
  // [global_batch, seqlen], the same on every rank; on the device once per step (a copy from pageable
  // host memory waits for the device)
  Tensor batch = data_->next(o_.global_batch).to(dev_);
  StepSums sums;
  for (int64_t j = 0; j < local_acc_; ++j) {
    const int64_t a = first_mb_ + j;                 // global micro-batch index
    if (j + 1 == local_acc_) opt_->arm_reduction();  // its backward completes this rank's gradients
    micro_batch(t, a, batch.slice(0, a * o_.micro_batch, (a + 1) * o_.micro_batch), kappa, tau, sums);
  }
  double gnorm = 0;
  {
    RECORD_USER_SCOPE("leap::optimizer");  // the reduction's tail, the clipping and AdamW (not the log line)
    opt_->finish_reduction();              // θ gradients summed over ranks (bucket by bucket, overlapping backward)
    if (device_masks_) {
      gnorm = read_step_sums(t, batch, kappa, tau, sums);
    } else {
      if (comm_) {
        Tensor s =
            torch::tensor({sums.ce, sums.density, sums.reward, sums.kl}, torch::TensorOptions().dtype(torch::kFloat64))
                .to(dev_);
        comm_->allreduce_sum(s);
        s = s.cpu();
        sums.ce = s[0].item<double>(), sums.density = s[1].item<double>(), sums.reward = s[2].item<double>(),
        sums.kl = s[3].item<double>();
      }
      gnorm = opt_->clip_grad_norm(o_.max_grad_norm);
    }
    if (!std::isfinite(gnorm)) {
      std::string where;
      const std::vector<Tensor>& leaves = opt_->grad_leaves();
      for (size_t i = 0; i < leaves.size() && where.empty(); ++i)
        if (!torch::isfinite(leaves[i].grad()).all().item<bool>()) where = L_.names[i];
      fail("LEAP step %lld: non-finite mask-logit gradient%s%s; stopping (the last checkpoint, if any, is kept)",
           (long long)(t + 1), where.empty() ? "" : " in ", where.c_str());
    }
    opt_->step(t + 1, lr);
  }
  const double ce_mean = sums.ce / double(reg_.grad_acc);
  if (t == 0) first_ce_ = ce_mean;
  last_ce_ = ce_mean;
  if (main_rank_ && ((t + 1) % o_.log_every == 0 || t == start_ || t + 1 == T_))
    log_step(t, sums, gnorm, kappa, tau, lr);
}

// The log line and the metrics record (--log_file, and the checkpoint's copy).
void Trainer::log_step(int64_t t, const StepSums& sums, double gnorm, double kappa, double tau, double lr) {
  torch::NoGradGuard ng;
  const double ce_mean = sums.ce / double(reg_.grad_acc);
  const std::vector<int64_t> kept = hard_kept();  // one pass over θ per logged step
  const int64_t pos = std::accumulate(kept.begin(), kept.end(), int64_t(0));
  const double hard = double(pos) / reg_.masked, soft = sums.density / double(reg_.grad_acc);
  const double penalty = o_.sparse_reg * std::abs(soft - reg_.target_density);
  const double el = sw_.seconds(), tok_s = double((t + 1 - start_) * o_.global_batch * o_.seqlen) / el;
  const std::string kl = o_.distill_weight > 0 ? strformat(" | kl %.4f", sums.kl / double(reg_.grad_acc)) : "";
  const DeviceMemory dm = device_memory(dev_);  // rank 0's; the per-rank peaks come at the end
  const std::string cuda = dev_.is_cuda() ? strformat(" | cuda %.0f MiB (peak %.0f, reserved %.0f)", dm.allocated_mib,
                                                      dm.peak_allocated_mib, dm.peak_reserved_mib)
                                          : "";
  LEAP_INFO(
      "step %lld/%lld | ce %.4f%s | density pen %.4f | soft density %.4f | hard density %.4f | tau %.3f | kappa %.1f | "
      "lr %.2e | %.0f tok/s | rss %.0f MiB%s | eta %s",
      (long long)(t + 1), (long long)T_, ce_mean, kl.c_str(), penalty, soft, hard, tau, kappa, lr, tok_s, rss_mib(),
      cuda.c_str(), format_duration(el / double(t + 1 - start_) * double(T_ - t - 1)).c_str());
  ojson per_block = ojson::array();
  for (const auto& idx : L_.of_block) {
    int64_t p = 0, n = 0;
    for (size_t i : idx) p += kept[i], n += L_.shapes[i][0] * L_.shapes[i][1];
    per_block.push_back(double(p) / double(n));
  }
  ojson rec = {{"step", t + 1},
               {"ce", ce_mean},
               {"distill_kl", o_.distill_weight > 0 ? ojson(sums.kl / double(reg_.grad_acc)) : ojson()},
               {"density_penalty", penalty},
               {"soft_density", soft},
               {"hard_density", hard},
               {"weight_reward", sums.reward / double(reg_.grad_acc)},
               {"grad_norm", gnorm},
               {"tau", tau},
               {"kappa", kappa},
               {"lr", lr},
               {"tokens_per_s", tok_s},
               {"rss_mib", rss_mib()},
               {"cuda_allocated_mib", dev_.is_cuda() ? ojson(dm.allocated_mib) : ojson()},
               {"cuda_peak_allocated_mib", dev_.is_cuda() ? ojson(dm.peak_allocated_mib) : ojson()},
               {"cuda_peak_reserved_mib", dev_.is_cuda() ? ojson(dm.peak_reserved_mib) : ojson()},
               {"ranks", W_},
               {"block_hard_density", per_block}};
  log_lines_ += rec.dump() + "\n";
  if (!o_.log_file.empty()) write_file_atomic(o_.log_file, log_lines_);
}

std::vector<int64_t> Trainer::hard_kept() const {
  std::vector<int64_t> kept(L_.all.size());
  if (patterns_.defined()) {
    for (size_t i = 0; i < kept.size(); ++i) kept[i] = L_.shapes[i][0] * L_.shapes[i][1] / ctx_.nm_m * ctx_.nm_n;
    return kept;
  }
  std::vector<Tensor> counts;
  for (const Tensor& th : opt_->params()) counts.push_back((th > 0).sum());
  Tensor c = torch::stack(counts).cpu();
  for (size_t i = 0; i < kept.size(); ++i) kept[i] = c[int64_t(i)].item<int64_t>();
  return kept;
}

void Trainer::snapshot(int64_t step_done) {
  TrainState s;
  s.step = step_done;
  opt_->gather(&s.theta, &s.moments, main_rank_);  // rank 0 alone keeps a host copy
  if (main_rank_) {
    s.cpu_rng = gen_.get_state();
    data_->save(s);
    s.fingerprint = fp_;
    s.metrics = log_lines_;
    s.first_ce = first_ce_;
    save_train_state(o_.ckpt_dir, L_.names, s);
  }
  if (comm_) comm_->barrier();
}

// Each rank's `value` (every rank learns all of them).
std::vector<double> Trainer::per_rank(double value) {
  Tensor v = torch::zeros({W_}, torch::TensorOptions().dtype(torch::kFloat64));
  v[rank_] = value;
  if (comm_) {
    Tensor p = v.to(dev_);
    comm_->allreduce_sum(p);
    v = p.cpu();
  }
  return std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + W_);
}

LeapResult Trainer::run(const PriorFn& make_prior) {
  start(make_prior);
  reset_peak_rss();  // the training peaks, without the prior's second model copy
  reset_device_peaks(dev_);
  std::vector<double> step_seconds;  // wall time of each step of this invocation (benchmarks)
  int64_t t = start_;
  for (; t < T_; ++t) {
    Stopwatch step_sw;
    if (o_.max_steps_per_run > 0 && t - start_ >= o_.max_steps_per_run) break;
    {
      RECORD_USER_SCOPE("leap::step");
      step(t, sched_.kappa(t, T_), sched_.tau(t, T_), o_.lr * lr_factor(t, o_.warmup_steps, T_));
    }
    step_seconds.push_back(step_sw.seconds());
    if (o_.save_every > 0 && (t + 1) % o_.save_every == 0 && t + 1 < T_) snapshot(t + 1);
  }
  release_mask_buffers();
  const std::vector<double> peaks = per_rank(peak_rss_mib());
  const DeviceMemory dm = device_memory(dev_);
  const std::vector<double> dev_alloc = per_rank(dm.peak_allocated_mib), dev_reserved = per_rank(dm.peak_reserved_mib);
  const double state_mib = double(opt_->state_bytes()) / (1024.0 * 1024.0);
  auto list = [&](const std::vector<double>& v) {
    std::string s;
    for (int r = 0; r < W_; ++r) s += strformat("%s%.0f", r ? ", " : "", v[size_t(r)]);
    return s;
  };
  const char* ranks = W_ > 1 ? " (ranks 0..)" : "";
  if (t > start_) {
    LEAP_INFO("peak resident memory while training: %s MiB%s; mask state %.1f MiB per rank", list(peaks).c_str(), ranks,
              state_mib);
    if (dev_.is_cuda())
      LEAP_INFO("peak CUDA memory while training: %s MiB allocated, %s MiB reserved%s", list(dev_alloc).c_str(),
                list(dev_reserved).c_str(), ranks);
  }
  LeapResult res;
  // float32 (the master copy where θ is bfloat16); rank 0 alone holds it and decides the mask
  opt_->gather(&res.theta, nullptr, main_rank_);
  if (t < T_) {  // stopped by --max_steps_per_run
    snapshot(t);
    LEAP_INFO("stopped after step %lld of %lld; checkpoint in %s (continue with --resume)", (long long)t, (long long)T_,
              o_.ckpt_dir.c_str());
    res.summary = {{"stopped_at_step", t}, {"ckpt_dir", o_.ckpt_dir}};
    return res;
  }
  res.finished = true;
  if (!main_rank_) return res;  // θ, the masks and the pruned weights are rank 0's
  if (patterns_.defined()) {    // each group's argmax pattern: exactly N:M
    for (size_t i = 0; i < L_.names.size(); ++i) res.keep[L_.names[i]] = nm_keep_mask(res.theta[i], patterns_);
  } else {
    res.keep = final_keep_masks(res.theta, L_.names, ctx_.sparsity, o_.final_mask);
  }
  torch::NoGradGuard ng;
  for (auto& l : L_.all) l.linear->weight.mul_(res.keep[l.name].to(dev_).to(l.linear->weight.scalar_type()));
  res.summary = {{"steps", T_},
                 {"global_batch", o_.global_batch},
                 {"micro_batch", o_.micro_batch},
                 {"seqlen", o_.seqlen},
                 {"train_data", o_.train_data},
                 {"train_tokens_sha256", fp_["train_data"]},
                 {"train_tokens", data_->data().cache.num_tokens()},
                 {"train_blocks", data_->size()},
                 {"train_epochs", data_->data().epochs(T_ * o_.global_batch)},
                 {"final_mask", patterns_.defined() ? std::string("argmax pattern") : o_.final_mask},
                 {"first_step_ce", first_ce_},
                 {"last_step_ce", last_ce_},
                 {"train_seconds", sw_.seconds()},
                 {"resumed_from_step", start_},
                 {"grad_checkpoint", o_.grad_checkpoint},
                 {"mask_dtype", o_.mask_dtype},
                 {"mask_path", device_masks_ ? "device" : "host"},
                 {"ranks", W_},
                 {"shard_optimizer", o_.shard_optimizer && W_ > 1},
                 {"peak_rss_mib_per_rank", peaks},
                 {"cuda_peak_allocated_mib_per_rank", dev_.is_cuda() ? ojson(dev_alloc) : ojson()},
                 {"cuda_peak_reserved_mib_per_rank", dev_.is_cuda() ? ojson(dev_reserved) : ojson()},
                 {"mask_state_mib_per_rank", state_mib}};
  res.step_seconds = step_seconds;
  return res;
}

}  // namespace

LeapResult train_leap(CausalLM& m, const Tokenizer& tok, const PriorFn& make_prior, const TrainOptions& o,
                      const TrainContext& ctx) {
  Trainer trainer(m, tok, o, ctx);
  return trainer.run(make_prior);
}

}  // namespace leap
