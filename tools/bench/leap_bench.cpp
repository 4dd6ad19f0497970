// leap_bench — performance measurements, printed as Markdown tables (scripts/bench.sh collects them
// into docs/PERFORMANCE.md). Every ratio is measured in one run, on the same threads:
//   gemm    the machine's ceiling: FLOP/s of a large float32 GEMM
//   linear  masked linear forward+backward (y = x(W⊙M)ᵀ, grads to x and M) vs a dense linear
//           forward+backward (grads to x and W) of the same shape
//   step    one LEAP training step (trainer code, mask sampling, regularisers, AdamW on θ) vs one
//           dense full-parameter fine-tuning step (AdamW on every weight) on the same tokens, and
//           the LEAP step's achieved FLOP/s as a fraction of the GEMM ceiling
//   denormals  a LEAP step at the schedule's end (saturated masks) with the CPU's denormal
//           arithmetic kept vs flushed to zero (what the leap binary does)
//   profile where one LEAP step's time goes: the trainer's phases and the ops by self time; with
//           --device cuda also the device time of the step's kernels by kind (GEMMs, mask kernels)
//   eval    perplexity evaluation throughput (tokens/s) and its FLOP/s against the ceiling
// It is a measurement tool, not a test: nothing here asserts a time.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "base/progress.h"
#include "eval/ppl.h"
#include "leap/memory_model.h"
#include "leap/train_data.h"
#include "leap/trainer.h"
#include "model/device.h"
#include "model/mask.h"
#include "model/model.h"
#include "model/nm_mask.h"
#include "text/tokenizer.h"

namespace leap {
namespace {
using torch::Tensor;
using json = nlohmann::ordered_json;

template <class F>
double median_seconds(int reps, F fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    Stopwatch sw;
    fn();
    t.push_back(sw.seconds());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <class F>
double best_seconds(int reps, F fn) {
  fn();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    Stopwatch sw;
    fn();
    best = std::min(best, sw.seconds());
  }
  return best;
}

// The ceiling: the best float32 GEMM rate over a few large square sizes (best of `reps` each).
double gemm_ceiling(int64_t n_max, int reps, json& out) {
  torch::NoGradGuard ng;
  double best = 0;
  for (int64_t n = n_max / 2; n <= n_max * 3 / 2; n += n_max / 2) {
    Tensor a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
    double s = best_seconds(reps, [&] { torch::mm_out(c, a, b); });
    double flops = 2.0 * double(n) * double(n) * double(n) / s;
    std::printf("| GEMM %lld x %lld x %lld float32 | %.1f ms | %.1f GFLOP/s |\n", (long long)n, (long long)n,
                (long long)n, s * 1e3, flops / 1e9);
    out["gemm"].push_back({{"n", n}, {"seconds", s}, {"gflops", flops / 1e9}});
    best = std::max(best, flops);
  }
  std::printf("| **ceiling** (best) | | **%.1f GFLOP/s** |\n", best / 1e9);
  out["ceiling_gflops"] = best / 1e9;
  return best;
}

void linear_ratio(int64_t out_f, int64_t in_f, int64_t tokens, int reps, double ceiling, json& out) {
  Tensor x = torch::randn({tokens, in_f}).requires_grad_(true);
  Tensor w = torch::randn({out_f, in_f}) * 0.02;
  Tensor gy = torch::randn({tokens, out_f});
  Tensor wd = w.clone().requires_grad_(true);
  Tensor theta = (torch::randn({out_f, in_f}) * 0.05).requires_grad_(true);
  LinearMask m{torch::rand({out_f, in_f}), theta, 10.0, 1e-6, 1e-3};  // a sample; the backward writes dL/dθ
  auto dense = [&] {
    x.mutable_grad() = Tensor();
    wd.mutable_grad() = Tensor();
    Tensor y = torch::matmul(x, wd.t());
    y.backward(gy);
  };
  auto masked = [&] {
    x.mutable_grad() = Tensor();
    theta.mutable_grad() = Tensor();
    Tensor y = masked_linear(x, w, m, Tensor());
    y.backward(gy);
  };
  double td = median_seconds(reps, dense), tm = median_seconds(reps, masked);
  double flops = 6.0 * double(tokens) * double(in_f) * double(out_f);
  std::printf("| %lld x %lld, %lld tokens | %.1f ms | %.1f ms | **%.2f** | %.0f%% |\n", (long long)out_f,
              (long long)in_f, (long long)tokens, td * 1e3, tm * 1e3, tm / td, 100.0 * flops / tm / ceiling);
  out["linear"].push_back({{"out", out_f},
                           {"in", in_f},
                           {"tokens", tokens},
                           {"dense_s", td},
                           {"masked_s", tm},
                           {"ratio", tm / td},
                           {"masked_fraction_of_ceiling", flops / tm / ceiling}});
}

// The same for learnable N:M masks (nm_mask.h): the fused CPU loops against the composite ops
// (softmax of the Gumbel-perturbed pattern logits, the pattern matmul, the softmax backward).
void nm_mask_overhead(CausalLM m, int64_t n, int64_t mm, int reps, json& out) {
  const Tensor patterns = nm_patterns(n, mm);
  const int64_t C = patterns.size(0);
  std::vector<Tensor> thetas, ws, gs;
  int64_t logits = 0;
  for (const auto& l : m->decoder_linears()) {
    const Tensor& w = l.linear->weight;
    thetas.push_back(torch::randn({w.size(0), w.size(1) / mm, C}) * 0.05);
    ws.push_back(w);
    gs.push_back(torch::randn(w.sizes()) * 1e-3);
    logits += thetas.back().numel();
  }
  auto run = [&](bool fused) {
    torch::NoGradGuard ng;
    double acc = 0;
    for (size_t i = 0; i < thetas.size(); ++i) {
      Tensor M, P;
      if (fused) {
        NmSample s = sample_nm_mask(thetas[i], ws[i], patterns, 100.0, 1.0, i);
        M = s.M, P = s.P;
        acc += s.sum + s.wnorm;
      } else {
        at::Generator g = at::make_generator<at::CPUGeneratorImpl>(i);
        Tensor u = torch::empty(thetas[i].sizes()).uniform_(0.0, 1.0, g).clamp_(1e-6, 1.0 - 1e-6);
        P = nm_pattern_weights(thetas[i], u, 100.0, 1.0);
        M = P.matmul(patterns).reshape(ws[i].sizes());
        acc += M.sum().item<double>() + (M * ws[i]).norm().item<double>();
      }
      Tensor gt = nm_logit_grad(gs[i], M, P, ws[i], patterns, 100.0, 1e-6, 1e-3, fused);
      acc += gt.data_ptr<float>()[0];
    }
    return acc;
  };
  double tf = median_seconds(reps, [&] { run(true); }), tc = median_seconds(reps, [&] { run(false); });
  std::printf("| %lld:%lld, %.1f M pattern logits | %.1f ms | %.1f ms | %.2fx |\n", (long long)n, (long long)mm,
              double(logits) / 1e6, tc * 1e3, tf * 1e3, tc / tf);
  out["mask_" + std::to_string(n) + "of" + std::to_string(mm)] = {
      {"logits", logits}, {"composite_s", tc}, {"fused_s", tf}};
}

// Mask sampling + the mask logits' gradient for every decoder linear of a model: the fused CPU
// loops against the composite LibTorch ops (gumbel_sigmoid, the statistics, the gradient formula).
void mask_overhead(const std::string& dir, int reps, json& out) {
  CausalLM m = load_model(dir, {});
  std::vector<Tensor> thetas, ws, gs;
  int64_t n = 0;
  for (const auto& l : m->decoder_linears()) {
    thetas.push_back(torch::randn(l.linear->weight.sizes()) * 0.05);
    ws.push_back(l.linear->weight);
    gs.push_back(torch::randn(l.linear->weight.sizes()) * 1e-3);
    n += l.linear->weight.numel();
  }
  auto run = [&](bool fused) {
    torch::NoGradGuard ng;
    double acc = 0;
    for (size_t i = 0; i < thetas.size(); ++i) {
      Tensor M;
      if (fused) {
        MaskSample s = sample_mask(thetas[i], ws[i], 100.0, 1.0, i);
        M = s.M;
        acc += s.sum + s.wnorm;
      } else {
        at::Generator g = at::make_generator<at::CPUGeneratorImpl>(i);
        M = gumbel_sigmoid(thetas[i], 100.0, 1.0, g);
        acc += M.sum().item<double>() + (M * ws[i]).norm().item<double>();
      }
      Tensor gt = mask_logit_grad(gs[i].clone(), M, ws[i], 100.0, 1e-6, 1e-3, fused);
      acc += gt.data_ptr<float>()[0];
    }
    return acc;
  };
  double tf = median_seconds(reps, [&] { run(true); }), tc = median_seconds(reps, [&] { run(false); });
  std::printf("| unstructured, %.1f M mask logits | %.1f ms | %.1f ms | %.2fx |\n", double(n) / 1e6, tc * 1e3, tf * 1e3,
              tc / tf);
  out["mask"] = {{"elements", n}, {"composite_s", tc}, {"fused_s", tf}};
  for (auto [nn, mm] : {std::pair<int64_t, int64_t>{2, 4}, {4, 8}}) nm_mask_overhead(m, nn, mm, reps, out);
}

// FLOPs of one training step (forward + backward) per token: 6 per weight of the decoder linears,
// the lm_head's backward to its input only when it is frozen, causal attention 6·S·H per layer.
double train_flops_per_token(const ModelConfig& c, int64_t seqlen, bool head_weight_grad) {
  double lin = 6.0 * double(masked_param_count(c));
  double head = (head_weight_grad ? 6.0 : 4.0) * double(c.vocab_size) * double(c.hidden_size);
  double attn = 6.0 * double(seqlen) * double(c.num_heads * c.head_dim) * double(c.num_layers);
  return lin + head + attn;
}

std::map<std::string, Tensor> magnitude_keep(CausalLM& m, double sparsity) {  // a cheap prior for timing
  std::map<std::string, Tensor> keep;
  for (const auto& l : m->decoder_linears()) {
    Tensor a = l.linear->weight.abs().flatten();
    int64_t k = int64_t(double(a.numel()) * sparsity);
    double thr = std::get<0>(a.kthvalue(std::max<int64_t>(1, k))).item<double>();
    keep[l.name] = l.linear->weight.abs() > thr;
  }
  return keep;
}

// The trainer's options for the step benchmarks: `steps` steps of one micro-batch of
// `micro_batch` x `seqlen` tokens at --sparsity 0.5 (TrainContext's default), log lines only at the
// first and the last step.
TrainOptions bench_train_options(int64_t steps, int64_t seqlen, int64_t micro_batch, const std::string& train_data) {
  TrainOptions o;
  o.steps = steps;
  o.global_batch = micro_batch;
  o.micro_batch = micro_batch;
  o.seqlen = seqlen;
  o.log_every = 1 << 30;
  o.train_data = train_data;
  return o;
}

// One LEAP step (the trainer itself) against one dense fine-tuning step, alternating blocks of
// `steps` steps for `rounds` rounds so both see the same machine conditions; medians of all steps.
void step_ratio(const std::string& dir, const std::string& train_data, int64_t seqlen, int64_t micro_batch, int steps,
                int rounds, double ceiling, json& out) {
  auto tok = load_tokenizer(dir);
  CausalLM lm = load_model(dir, {});
  TrainOptions o = bench_train_options(steps + 1, seqlen, micro_batch, train_data);
  auto prior = magnitude_keep(lm, 0.5);
  // dense full-parameter fine-tuning: every weight trainable, torch's AdamW, same token count
  CausalLM dm = load_model(dir, {});
  std::vector<Tensor> params;
  for (auto& p : dm->parameters()) params.push_back(p.requires_grad_(true));
  torch::optim::AdamW adam(params, torch::optim::AdamWOptions(1e-5).betas({0.9, 0.95}));
  TrainingData data = load_training_data(*tok, o, resolve_training_source(o));
  int64_t cursor = 0;
  auto dense_step = [&] {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < micro_batch; ++i) idx.push_back((cursor + i) % data.size());
    cursor = (cursor + micro_batch) % data.size();
    Tensor x = data.gather(idx);
    adam.zero_grad();
    Tensor h = dm->embed(x);
    auto rope = dm->rope(seqlen);
    for (int64_t li = 0; li < dm->config().num_layers; ++li) h = dm->run_layer(li, h, rope);
    Tensor logits = dm->head(h.slice(1, 0, seqlen - 1)).to(torch::kFloat32);
    Tensor ce =
        torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), x.slice(1, 1).reshape({-1}));
    ce.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    adam.step();
  };
  std::vector<double> tl, td;
  log::Level lv = log::level();
  for (int r = 0; r < rounds; ++r) {
    log::set_level(log::Level::warn);
    LeapResult res = train_leap(
        lm, *tok, [&] { return prior; }, o);  // first step: warm-up, not counted
    log::set_level(lv);
    tl.insert(tl.end(), res.step_seconds.begin() + 1, res.step_seconds.end());
    dense_step();  // warm-up
    for (int i = 0; i < steps; ++i) {
      Stopwatch sw;
      dense_step();
      td.push_back(sw.seconds());
    }
  }
  std::sort(tl.begin(), tl.end());
  std::sort(td.begin(), td.end());
  const double t_leap = tl[tl.size() / 2], t_dense = td[td.size() / 2];
  const ModelConfig& c = lm->config();
  const double tokens = double(micro_batch * seqlen);
  const double f_leap = train_flops_per_token(c, seqlen, false) * tokens;
  const double f_dense = train_flops_per_token(c, seqlen, true) * tokens;
  std::printf(
      "| hidden %lld, %lld layers, %.1f M masked, %lld x %lld tokens | %.3f s | %.3f s | **%.2f** | %.1f GFLOP/s | "
      "**%.0f%%** | %.0f%% |\n",
      (long long)c.hidden_size, (long long)c.num_layers, double(masked_param_count(c)) / 1e6, (long long)micro_batch,
      (long long)seqlen, t_dense, t_leap, t_leap / t_dense, f_leap / t_leap / 1e9, 100.0 * f_leap / t_leap / ceiling,
      100.0 * f_dense / t_dense / ceiling);
  out["step"].push_back({{"model", dir},
                         {"hidden", c.hidden_size},
                         {"seqlen", seqlen},
                         {"micro_batch", micro_batch},
                         {"rounds", rounds},
                         {"steps_per_round", steps},
                         {"dense_s", t_dense},
                         {"leap_s", t_leap},
                         {"ratio", t_leap / t_dense},
                         {"leap_gflops", f_leap / t_leap / 1e9},
                         {"leap_fraction_of_ceiling", f_leap / t_leap / ceiling},
                         {"dense_fraction_of_ceiling", f_dense / t_dense / ceiling}});
}

// A LEAP step at the schedule's end (τ 0.05, κ 350 from the first step: most masks saturate, as
// in the last quarter of a run) with the CPU's denormal arithmetic kept and with it flushed to zero
// (model/device.h), alternating `rounds` times; medians of the steps after the first of each run.
void denormal_ratio(const std::string& dir, const std::string& train_data, int64_t seqlen, int64_t micro_batch,
                    int steps, int rounds, json& out) {
  auto tok = load_tokenizer(dir);
  CausalLM lm = load_model(dir, {});
  TrainOptions o = bench_train_options(steps + 1, seqlen, micro_batch, train_data);
  o.tau_start = o.tau_end;
  o.kappa_start = o.kappa_end;
  auto prior = magnitude_keep(lm, 0.5);
  std::vector<double> kept, flushed;
  const log::Level lv = log::level();
  for (int r = 0; r < rounds; ++r)
    for (bool flush : {false, true}) {
      flush_cpu_denormals(flush);
      log::set_level(log::Level::warn);
      LeapResult res = train_leap(
          lm, *tok, [&] { return prior; }, o);
      log::set_level(lv);
      (flush ? flushed : kept)
          .insert((flush ? flushed : kept).end(), res.step_seconds.begin() + 1, res.step_seconds.end());
    }
  flush_cpu_denormals(true);
  std::sort(kept.begin(), kept.end());
  std::sort(flushed.begin(), flushed.end());
  const double tk = kept[kept.size() / 2], tf = flushed[flushed.size() / 2];
  const ModelConfig& c = lm->config();
  std::printf("| hidden %lld, %lld layers, %lld x %lld tokens, tau 0.05, kappa 350 | %.3f s | %.3f s | **%.2fx** |\n",
              (long long)c.hidden_size, (long long)c.num_layers, (long long)micro_batch, (long long)seqlen, tk, tf,
              tk / tf);
  out["denormals"] = {{"model", dir}, {"seqlen", seqlen}, {"micro_batch", micro_batch},
                      {"kept_s", tk}, {"flushed_s", tf},  {"ratio", tk / tf}};
}

// Where one LEAP step's time goes (issue #17): LibTorch's profiler (Kineto, CPU activities) around
// a short run of the trainer; of its middle step (a "leap::step" scope), the phases the trainer
// marks (leap::sample_masks, forward, loss, backward, optimizer: inclusive time) and the ops by
// self time (time inside an op and not inside an op nested in it, on the step's thread). Fused
// mask loops called outside any op count as their enclosing scope's self time.
struct ProfileRow {
  double self_ns = 0, total_ns = 0;
  int64_t calls = 0;
};

std::map<std::string, ProfileRow> self_times(const std::vector<torch::autograd::profiler::KinetoEvent>& events,
                                             uint64_t thread, uint64_t lo, uint64_t hi) {
  std::vector<const torch::autograd::profiler::KinetoEvent*> ev;
  for (const auto& e : events)
    if (!e.isAsync() && e.startThreadId() == thread && e.startNs() >= lo && e.endNs() <= hi) ev.push_back(&e);
  std::sort(ev.begin(), ev.end(), [](auto* a, auto* b) {
    return a->startNs() != b->startNs() ? a->startNs() < b->startNs() : a->endNs() > b->endNs();
  });
  std::map<std::string, ProfileRow> rows;
  std::vector<std::pair<const torch::autograd::profiler::KinetoEvent*, double>> stack;  // event, its self time
  auto close = [&] {
    ProfileRow& r = rows[stack.back().first->name()];
    r.self_ns += stack.back().second;
    r.total_ns += double(stack.back().first->durationNs());
    ++r.calls;
    stack.pop_back();
  };
  for (auto* e : ev) {
    while (!stack.empty() && stack.back().first->endNs() <= e->startNs()) close();
    if (!stack.empty()) stack.back().second -= double(e->durationNs());  // nested: not its parent's self time
    stack.push_back({e, double(e->durationNs())});
  }
  while (!stack.empty()) close();
  return rows;
}

// CUDA: the device time of the profiled step's kernels by kind (the GEMMs against the mask path).
// Kernels are told apart by name: cuBLAS / cuBLASLt (gemm, xmma, cutlass, nvjet), leap's mask kernels
// (leap::cuda_kernel), attention (flash, fmha, attention), copies and fills, everything else.
std::string kernel_kind(const std::string& name) {
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("leap::cuda_kernel")) return "mask kernels (sample, gradient)";
  if (has("gemm") || has("Gemm") || has("xmma") || has("cutlass") || has("nvjet") || has("cublas"))
    return "GEMMs (cuBLAS)";
  if (has("flash") || has("fmha") || has("ttention")) return "attention";
  if (has("Memcpy") || has("Memset") || has("memcpy") || has("memset")) return "copies and fills";
  return "other kernels";
}

void device_kernel_table(const std::vector<torch::autograd::profiler::KinetoEvent>& events, uint64_t lo, uint64_t hi,
                         double step_ns, json& out) {
  std::map<std::string, std::pair<double, int64_t>> kinds;  // kind → (ns, kernels)
  double total = 0;
  for (const auto& e : events) {
    if (e.deviceType() != c10::DeviceType::CUDA || e.startNs() < lo || e.endNs() > hi) continue;
    auto& k = kinds[kernel_kind(e.name())];
    k.first += double(e.durationNs());
    ++k.second;
    total += double(e.durationNs());
  }
  std::printf(
      "\n| device time of the step (%.3f s of wall time) | kernels | time | share of device time |\n"
      "|---|---:|---:|---:|\n",
      step_ns * 1e-9);
  json rows = json::object();
  for (const auto& [kind, v] : kinds) {
    std::printf("| %s | %lld | %.2f ms | %.1f%% |\n", kind.c_str(), (long long)v.second, v.first * 1e-6,
                total > 0 ? 100.0 * v.first / total : 0.0);
    rows[kind] = {{"kernels", v.second}, {"seconds", v.first * 1e-9}};
  }
  std::printf("| all kernels | | %.2f ms | %.1f%% of wall time |\n", total * 1e-6, 100.0 * total / step_ns);
  out["device_kernels"] = rows;
}

void step_profile(const std::string& dir, const std::string& train_data, int64_t seqlen, int64_t micro_batch, int top,
                  const std::string& device, const std::string& mask_path, json& out) {
  namespace prof = torch::profiler::impl;
  using namespace torch::autograd::profiler;
  auto tok = load_tokenizer(dir);
  const torch::Device dev(device);
  CausalLM lm = load_model(dir, dev.is_cuda() ? LoadOptions{torch::kBFloat16, dev} : LoadOptions{});
  // three steps: the first and the last log (a pass over θ), the middle one is profiled
  TrainOptions o = bench_train_options(3, seqlen, micro_batch, train_data);
  o.mask_path = mask_path;
  auto prior = magnitude_keep(lm, 0.5);
  const prof::ProfilerConfig cfg(prof::ProfilerState::KINETO);
  std::set<prof::ActivityType> acts{prof::ActivityType::CPU};
  if (dev.is_cuda()) acts.insert(prof::ActivityType::CUDA);
  log::Level lv = log::level();
  log::set_level(log::Level::warn);
  prepareProfiler(cfg, acts);
  enableProfiler(cfg, acts);
  train_leap(
      lm, *tok, [&] { return prior; }, o);
  std::unique_ptr<ProfilerResult> res = disableProfiler();
  log::set_level(lv);
  std::vector<const KinetoEvent*> steps;
  for (const auto& e : res->events())
    if (e.name() == "leap::step") steps.push_back(&e);
  LEAP_CHECK(steps.size() == 3, "profile: %zu leap::step scopes recorded, not 3 (is the profiler built into LibTorch?)",
             steps.size());
  std::sort(steps.begin(), steps.end(), [](auto* a, auto* b) { return a->startNs() < b->startNs(); });
  const KinetoEvent* step = steps[1];
  auto rows = self_times(res->events(), step->startThreadId(), step->startNs(), step->endNs());
  const double T = double(step->durationNs());
  std::printf("\n| phase of one LEAP step (%lld x %lld tokens, %.3f s) | time | share |\n|---|---:|---:|\n",
              (long long)micro_batch, (long long)seqlen, T * 1e-9);
  json phases = json::object();
  for (const char* p : {"leap::sample_masks", "leap::forward", "leap::loss", "leap::backward", "leap::optimizer"}) {
    const double t = rows.count(p) ? rows[p].total_ns : 0.0;
    std::printf("| %s | %.1f ms | %.1f%% |\n", p + 6, t * 1e-6, 100.0 * t / T);
    phases[p + 6] = t * 1e-9;
  }
  std::vector<std::pair<std::string, ProfileRow>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.self_ns > b.second.self_ns; });
  std::printf("\n| op (self time, the profiled step) | calls | self time | share |\n|---|---:|---:|---:|\n");
  json ops = json::array();
  for (size_t i = 0; i < sorted.size() && int(i) < top; ++i) {
    const auto& [name, r] = sorted[i];
    std::printf("| `%s` | %lld | %.1f ms | %.1f%% |\n", name.c_str(), (long long)r.calls, r.self_ns * 1e-6,
                100.0 * r.self_ns / T);
    ops.push_back({{"op", name}, {"calls", r.calls}, {"self_s", r.self_ns * 1e-9}});
  }
  out["profile"] = {{"model", dir},           {"seqlen", seqlen},   {"micro_batch", micro_batch}, {"device", device},
                    {"mask_path", mask_path}, {"step_s", T * 1e-9}, {"phases", phases},           {"ops", ops}};
  if (dev.is_cuda()) device_kernel_table(res->events(), step->startNs(), step->endNs(), T, out["profile"]);
}

void eval_throughput(const std::string& dir, const std::string& text_file, int64_t seqlen, int64_t batch,
                     int64_t windows, double ceiling, json& out) {
  CausalLM m = load_model(dir, {});
  auto tok = load_tokenizer(dir);
  auto ids = tok->encode(read_file(text_file), true);
  log::Level lv = log::level();
  log::set_level(log::Level::warn);
  eval_ppl_ids(m, ids, seqlen, batch, 1, "warm-up");
  Stopwatch sw;
  PplResult r = eval_ppl_ids(m, ids, seqlen, batch, windows, "bench");
  double s = sw.seconds();
  log::set_level(lv);
  const ModelConfig& c = m->config();
  double tokens = double(r.windows * seqlen);
  double fpt = 2.0 * double(masked_param_count(c)) + 2.0 * double(c.vocab_size * c.hidden_size) +
               2.0 * double(seqlen) * double(c.num_heads * c.head_dim) * double(c.num_layers);
  std::printf(
      "| hidden %lld, %lld layers, %lld windows x %lld tokens, batch %lld | %.0f tokens/s | %.1f GFLOP/s | **%.0f%%** "
      "|\n",
      (long long)c.hidden_size, (long long)c.num_layers, (long long)r.windows, (long long)seqlen, (long long)batch,
      tokens / s, fpt * tokens / s / 1e9, 100.0 * fpt * tokens / s / ceiling);
  out["eval"].push_back({{"model", dir},
                         {"seqlen", seqlen},
                         {"batch", batch},
                         {"windows", r.windows},
                         {"tokens_per_s", tokens / s},
                         {"gflops", fpt * tokens / s / 1e9},
                         {"fraction_of_ceiling", fpt * tokens / s / ceiling}});
}

}  // namespace
}  // namespace leap

int main(int argc, char** argv) {
  using namespace leap;
  CLI::App app{"leap_bench: performance tables (scripts/bench.sh writes docs/PERFORMANCE.md from them)"};
  std::string only = "gemm,linear,step,eval", model, train_data, text, output_path;
  int64_t tokens = 512, gemm_n = 2048, seqlen = 512, micro_batch = 1, eval_seqlen = 512, eval_batch = 4,
          eval_windows = 8;
  int reps = 5, steps = 4, rounds = 3, threads = 0, profile_top = 20;
  std::string device = "cpu", mask_path = "auto";
  bool keep_denormals = false;
  std::vector<std::string> shapes{"2048x2048", "8192x2048", "2048x8192"};
  app.add_option("--only", only, "comma list of sections: gemm, linear, mask, step, denormals, profile, eval");
  app.add_option("--profile_top", profile_top, "profile: the ops shown (by self time)");
  app.add_option("--device", device,
                 "profile: cpu | cuda[:N] (bf16 weights; adds the device time of the step's kernels by kind)");
  app.add_option("--mask_path", mask_path, "profile: the trainer's --mask_path (auto | host | device)");
  app.add_flag("--keep_denormals", keep_denormals,
               "keep the CPU's denormal arithmetic (leap flushes denormals to zero; for the denormals table)");
  app.add_option("--model", model, "HF folder for step/eval (e.g. scripts/make_bench_model.py output)");
  app.add_option("--train_data", train_data, "text for the training steps");
  app.add_option("--text", text, "text for the evaluation throughput");
  app.add_option("--gemm_n", gemm_n, "GEMM size for the ceiling");
  app.add_option("--shapes", shapes, "linear shapes OUTxIN");
  app.add_option("--tokens", tokens, "tokens per linear call");
  app.add_option("--seqlen", seqlen, "training sequence length");
  app.add_option("--micro_batch", micro_batch, "sequences per training step");
  app.add_option("--steps", steps, "timed training steps per round");
  app.add_option("--rounds", rounds, "alternating LEAP / dense rounds");
  app.add_option("--eval_seqlen", eval_seqlen, "evaluation window");
  app.add_option("--eval_batch", eval_batch, "evaluation batch");
  app.add_option("--eval_windows", eval_windows, "evaluation windows timed");
  app.add_option("--reps", reps, "repetitions (median)");
  app.add_option("--threads", threads, "intra-op threads (0: LibTorch's default)");
  app.add_option("--output_path", output_path, "also write the numbers as JSON");
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) at::set_num_threads(threads);
    flush_cpu_denormals(!keep_denormals);  // as the leap binary does (model/device.h)
    auto has = [&](const char* s) { return ("," + only + ",").find("," + std::string(s) + ",") != std::string::npos; };
    json out = {{"threads", at::get_num_threads()}};
    std::printf("threads: %d\n\n| ceiling | time | FLOP/s |\n|---|---:|---:|\n", at::get_num_threads());
    const double ceiling = gemm_ceiling(gemm_n, reps, out);
    if (has("linear")) {
      std::printf(
          "\n| linear (out x in) | dense fwd+bwd | masked fwd+bwd | masked / dense | masked FLOP/s vs ceiling "
          "|\n|---|---:|---:|---:|---:|\n");
      for (const auto& s : shapes) {
        auto x = s.find('x');
        LEAP_CHECK(x != std::string::npos, "--shapes: expected OUTxIN, got %s", s.c_str());
        linear_ratio(std::stoll(s.substr(0, x)), std::stoll(s.substr(x + 1)), tokens, reps, ceiling, out);
      }
    }
    if (has("mask")) {
      LEAP_CHECK(!model.empty(), "mask: --model is needed");
      std::printf(
          "\n| mask sampling + backward, all decoder linears | composite ops | fused kernel | speed-up "
          "|\n|---|---:|---:|---:|\n");
      mask_overhead(model, reps, out);
    }
    if (has("step")) {
      LEAP_CHECK(!model.empty() && !train_data.empty(), "step: --model and --train_data are needed");
      std::printf(
          "\n| model, tokens per step | dense fine-tuning step | LEAP step | LEAP / dense | LEAP FLOP/s | LEAP vs "
          "ceiling | dense vs ceiling |\n|---|---:|---:|---:|---:|---:|---:|\n");
      step_ratio(model, train_data, seqlen, micro_batch, steps, rounds, ceiling, out);
    }
    if (has("denormals")) {
      LEAP_CHECK(!model.empty() && !train_data.empty(), "denormals: --model and --train_data are needed");
      std::printf(
          "\n| LEAP step at the schedule's end (saturated masks) | denormals kept | flushed to zero | speed-up "
          "|\n|---|---:|---:|---:|\n");
      denormal_ratio(model, train_data, seqlen, micro_batch, steps, rounds, out);
    }
    if (has("profile")) {
      LEAP_CHECK(!model.empty() && !train_data.empty(), "profile: --model and --train_data are needed");
      step_profile(model, train_data, seqlen, micro_batch, profile_top, device, mask_path, out);
    }
    if (has("eval")) {
      LEAP_CHECK(!model.empty() && !text.empty(), "eval: --model and --text are needed");
      std::printf("\n| leap eval (perplexity) | throughput | FLOP/s | vs ceiling |\n|---|---:|---:|---:|\n");
      eval_throughput(model, text, eval_seqlen, eval_batch, eval_windows, ceiling, out);
    }
    if (!output_path.empty()) write_file_atomic(output_path, out.dump(2) + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "leap_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
