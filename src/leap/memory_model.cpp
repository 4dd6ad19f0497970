// memory_model.cpp — see memory_model.h; docs/MEMORY.md explains each term.
#include "leap/memory_model.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "base/error.h"
#include "model/lm_loss.h"

namespace leap {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string count_str(int64_t n) {
  if (n >= 1000000000) return strformat("%.2f B", double(n) / 1e9);
  if (n >= 1000000) return strformat("%.1f M", double(n) / 1e6);
  return strformat("%.1f K", double(n) / 1e3);
}

int64_t layer_linear_numel(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, q = c.num_heads * c.head_dim,
                kv = c.num_kv_heads * c.head_dim;
  return H * q + 2 * H * kv + q * H + 3 * H * I;  // q, k, v, o, gate, up, down
}
int64_t largest_linear(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, q = c.num_heads * c.head_dim;
  return std::max({H * I, H * q});
}
// Σ numel over the distinct linear sizes (q/o, k/v, gate/up/down): the CPU buffer pool keeps one
// W⊙M and one dL/d(W⊙M) buffer per size (mask.cpp)
int64_t distinct_linear_sizes(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, q = c.num_heads * c.head_dim,
                kv = c.num_kv_heads * c.head_dim;
  std::vector<int64_t> sizes = {H * q, H * kv, H * I};
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  int64_t sum = 0;
  for (int64_t n : sizes) sum += n;
  return sum;
}
}  // namespace

int64_t masked_param_count(const ModelConfig& c) {
  return c.num_layers * layer_linear_numel(c);
}

int64_t total_param_count(const ModelConfig& c) {
  const int64_t H = c.hidden_size;
  int64_t norms = c.num_layers * H * (c.sandwich_norms ? 4 : 2) + H;
  if (c.qk_norm) norms += c.num_layers * 2 * c.head_dim;
  int64_t bias = 0;
  if (c.qkv_bias) bias += c.num_layers * (c.num_heads + 2 * c.num_kv_heads) * c.head_dim;
  return masked_param_count(c) + c.vocab_size * H * (c.tie_word_embeddings ? 1 : 2) + norms + bias;
}

MemoryEstimate estimate_memory(const ModelConfig& c, const MemoryInputs& in, int64_t nsamples, int64_t calib_seqlen) {
  MemoryEstimate e;
  e.params = total_param_count(c);
  e.masked = masked_param_count(c);
  const double N = double(e.masked);
  const double bm = double(in.mask_bytes), shards = in.shard ? double(in.world) : 1.0;
  // logits per masked weight: 1, or C(M,N)/M pattern logits for learnable N:M masks (nm_mask.h)
  double r = 1.0;
  if (in.nm_m > 0) {
    double c = 1;
    for (int64_t k = 1; k <= in.nm_n; ++k) c = c * double(in.nm_m - in.nm_n + k) / double(k);
    r = c / double(in.nm_m);
  }
  const std::string per = in.nm_m > 0 ? strformat(" (%.3g per weight)", r) : "";
  auto per_masked = [&](const std::string& name, double b) { e.terms.push_back({name, b, b * N}); };
  auto fixed = [&](const std::string& name, double bytes) { e.terms.push_back({name, 0, bytes}); };

  fixed("weights (all parameters, model dtype)", double(e.params) * double(in.model_bytes));
  per_masked((in.nm_m > 0 ? "pattern logits theta" : "mask logits theta") + per, bm * r);
  per_masked("theta gradients (flat float32 buckets)", 4.0 * r);
  const double moment_bytes = in.moments_8bit ? 2.0 + 8.0 / 256 : 8.0;  // codes + a float32 scale per block of 256
  per_masked(
      std::string("AdamW moments m, v (") + (in.moments_8bit ? "8-bit" : "float32") + (in.shard ? ", sharded)" : ")"),
      moment_bytes * r / shards);
  if (in.mask_bytes != 4)
    per_masked(in.shard ? "float32 master theta (sharded)" : "float32 master theta", 4.0 * r / shards);
  if (in.shard && in.world > 1) per_masked("reduce-scatter output (float32)", 4.0 * r / shards);
  // the activations' dtype: bf16 under autocast, else the model's (also the matmul dtype of W*M)
  const double act_b = (in.autocast || in.model_bytes == 2) ? 2.0 : double(in.model_bytes);
  if (in.device_masks) {  // device_mask.h: the sampler's product, M itself is not kept
    per_masked("sampled W*M (one micro-batch, compute dtype, kept for backward)", act_b);
  } else {
    per_masked("sampled masks M (one micro-batch, kept for backward)", bm);
    if (!in.cuda && in.nm_m == 0)  // the fused CPU sampler writes W*M too (mask.h), W's dtype
      per_masked("sampled W*M (one micro-batch, kept for backward)", double(in.model_bytes));
  }
  if (in.nm_m > 0) per_masked("pattern weights P (one micro-batch, kept for backward)", bm * r);
  // the optimizer step's scratch, one bucket slice (a bucket holds whole linears up to the target):
  // √v̂ + ε and the squared gradient in float32, two all-gather send buffers (θ's dtype) when sharded;
  // 8-bit moments off the CPU (LibTorch ops, adamw_8bit.cpp): the float32 moments, their squares and
  // the int64 codes of the quantization search, ~48 bytes per logit of the slice
  const double bucket = std::min(N * r, std::max(in.bucket_mib * 1024 * 1024 / bm, double(largest_linear(c)) * r));
  const double step_scratch = in.moments_8bit && in.cuda ? 48.0 : 4.0;
  fixed("optimizer step scratch (one bucket slice)",
        bucket / shards * (step_scratch + (in.shard && in.world > 1 ? 2.0 * bm : 0.0)));

  // activations kept for backward, per token (elements): per layer 4H + 5·heads·D + 4I (norm inputs
  // and outputs, rotated q, repeated k and v, attention output and its copy into o_proj, gate, up,
  // act, act·up), Gemma's sandwich norms 4H more; with --grad_checkpoint only the block inputs
  // plus one block's worth during its recomputation.
  const double tokens = double(in.micro_batch * in.seqlen);
  const double H = double(c.hidden_size), I = double(c.intermediate_size), q = double(c.num_heads * c.head_dim);
  const double per_layer = 4 * H + 5 * q + 4 * I + (c.sandwich_norms ? 4 * H : 0);
  const double layers = in.grad_checkpoint ? double(c.num_layers) * H / per_layer + 1.0 : double(c.num_layers);
  fixed(in.grad_checkpoint ? "activations (block inputs + one recomputed block)" : "activations (all blocks)",
        tokens * per_layer * layers * act_b);
  // cross-entropy, a chunk of positions at a time (lm_loss.h): the chunk's float32 logits, their
  // softmax-gradient and one temporary (tanh for soft-capped logits: one more), the head's own
  // output when it is not float32; plus ∂CE/∂h for every token, kept for backward
  const double chunk = std::min(tokens, double(kLossChunk));
  fixed("cross-entropy (one chunk of logits, the hidden-state gradient)",
        chunk * double(c.vocab_size) * (12.0 + (c.final_logit_softcapping ? 4 : 0) + (act_b == 4 ? 0 : act_b)) +
            tokens * H * act_b);
  // distillation (lm_loss.h): the teacher's last hidden states for every token, and per chunk its
  // float32 logits, p_t and the student's τ-softmax (three more chunks of logits; top-k keeps the
  // same full-width p_t)
  if (in.distill)
    fixed("distillation (teacher hidden states, three chunks of logits)",
          tokens * H * act_b + chunk * double(c.vocab_size) * 12.0);
  // CUDA, device path (fused kernels): dL/d(W⊙M) in the compute dtype in backward (dL/dθ goes
  // straight into the bucket). CUDA, host path (composite ops, one linear at a time): uniform noise and logistic terms
  // while sampling; W⊙M, dL/d(W⊙M), dL/dM and dL/dθ in backward. CPU (fused loops, pooled buffers):
  // dL/d(W⊙M) per distinct linear size (W⊙M itself comes from the sampler; N:M forms it per size),
  // dL/dθ added into the bucket.
  // learnable N:M: the composite path's uniforms, Gumbel logits and softmax while sampling, dL/dp
  // and the softmax backward, float32 per pattern logit (the fused CPU loops need less: an upper bound)
  if (in.nm_m > 0)
    fixed("N:M sampling and gradient transients of the largest linear", double(largest_linear(c)) * (12.0 + 16.0 * r));
  if (in.cuda && in.device_masks)
    fixed("transients of the largest linear", double(largest_linear(c)) * act_b);  // dL/d(W*M)
  else if (in.cuda)
    fixed("transients of the largest linear", double(largest_linear(c)) * (12.0 + double(in.model_bytes) + 8.0 + bm));
  else if (in.nm_m == 0)
    fixed("gradient buffers dL/d(W*M) (one per linear size)", double(distinct_linear_sizes(c)) * 4.0);
  else
    fixed("W*M and gradient buffers (one per linear size)",
          double(distinct_linear_sizes(c)) * (double(in.model_bytes) + 4.0));
  fixed(in.cuda ? "runtime (CUDA context, cuBLAS, NCCL)" : "runtime (LibTorch, allocator)",
        in.cuda ? 1.0 * kGiB : 0.45 * kGiB);
  for (const auto& t : e.terms) e.total += t.bytes;
  // the Wanda prior on rank 0, before training: a second copy of the weights and the calibration
  // activations (inputs and outputs of the current block)
  e.prior_peak = 2.0 * double(e.params) * double(in.model_bytes) + 2.0 * double(nsamples * calib_seqlen) * H * act_b +
                 (in.cuda ? 1.0 : 0.45) * kGiB;
  return e;
}

MemoryInputs memory_inputs(const TrainOptions& o, const MemoryPlan& plan) {
  const int model_dtype_bytes = plan.model_dtype_bytes, world = plan.world;
  const bool cuda = plan.cuda;
  MemoryInputs in;
  in.model_bytes = model_dtype_bytes;
  in.mask_bytes = o.mask_dtype == "bfloat16" ? 2 : 4;
  in.world = world;
  in.shard = o.shard_optimizer && world > 1;
  in.micro_batch = o.micro_batch;
  in.seqlen = o.seqlen;
  in.grad_checkpoint = o.grad_checkpoint;
  in.cuda = cuda;
  in.autocast = cuda && model_dtype_bytes == 4;
  in.bucket_mib = o.bucket_mib;
  in.distill = o.distill_weight > 0;
  in.moments_8bit = moments_8bit(o);
  in.nm_n = plan.nm_n;
  in.nm_m = plan.nm_m;
  in.device_masks = cuda && plan.nm_m == 0 && o.mask_path != "host";  // --mask_path auto picks it on CUDA
  return in;
}

std::string memory_estimate_table(const ModelConfig& c, const std::string& source, const TrainOptions& o,
                                  const MemoryPlan& plan) {
  const int model_dtype_bytes = plan.model_dtype_bytes, world = plan.world;
  const bool cuda = plan.cuda;
  const MemoryInputs in = memory_inputs(o, plan);
  MemoryEstimate e = estimate_memory(c, in, plan.nsamples, plan.calib_seqlen);
  std::ostringstream s;
  s << strformat("memory estimate per rank (leap prune --dry_run) for %s\n", source.c_str());
  s << strformat(
      "  %s parameters, %s masked; %d rank(s)%s; mask dtype %s; %s; model %d bytes/weight; micro-batch %lld x %lld "
      "tokens%s\n",
      count_str(e.params).c_str(), count_str(e.masked).c_str(), world, in.shard ? ", --shard_optimizer" : "",
      o.mask_dtype.c_str(), o.optim.c_str(), model_dtype_bytes, (long long)o.micro_batch, (long long)o.seqlen,
      o.grad_checkpoint ? ", --grad_checkpoint" : "");
  const bool mib = e.total < kGiB;  // small models in MiB
  const double unit = mib ? kGiB / 1024 : kGiB;
  s << strformat("  %-58s %14s %10s\n", "component", "B/masked param", mib ? "MiB" : "GiB");
  for (const auto& t : e.terms)
    s << strformat("  %-58s %14s %10.2f\n", t.name.c_str(),
                   t.bytes_per_masked > 0 ? strformat("%.2f", t.bytes_per_masked).c_str() : "-", t.bytes / unit);
  const double budget = double(plan.gpu_memory_gib) * kGiB;
  s << strformat("  %-58s %14s %10.2f  %s\n", "total while training", "", e.total / unit,
                 !cuda               ? ""
                 : e.total <= budget ? strformat("(fits in %lld GiB)", (long long)plan.gpu_memory_gib).c_str()
                                     : strformat("(does NOT fit in %lld GiB)", (long long)plan.gpu_memory_gib).c_str());
  s << strformat("  %-58s %14s %10.2f\n", "rank 0 while computing the Wanda prior (before training)", "",
                 e.prior_peak / unit);
  s << "  total while training per rank on";
  for (int w : {1, 2, 4, 8}) {
    MemoryInputs iw = in;
    iw.world = w;
    iw.shard = o.shard_optimizer && w > 1;
    s << strformat(" %d: %.2f %s%s", w, estimate_memory(c, iw).total / unit, mib ? "MiB" : "GiB", w == 8 ? "" : ",");
  }
  s << (o.shard_optimizer ? " (sharded)\n" : " (replicated; --shard_optimizer divides the AdamW state)\n");
  return s.str();
}

}  // namespace leap
