// trainer.h — LEAP end to end (docs/METHOD.md §1): Wanda prior → per-weight logits → training of
// the logits only (causal-LM CE + global density penalty − decaying weight-norm reward; AdamW,
// cosine schedule with warm-up, gradient accumulation, clipping; τ/κ annealing) → final hard mask
// (exact global top-k at the budget, or θ > 0) applied to the frozen weights. With an N:M pattern
// the logits are MaskLLM's per-group pattern logits (§1.11): no density penalty, argmax patterns.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "leap/train_options.h"
#include "model/model.h"
#include "text/tokenizer.h"

namespace leap {
class Comm;
}

namespace leap {

struct LeapResult {
  bool finished = false;                      // false: stopped early (--max_steps_per_run), checkpoint written
  std::map<std::string, torch::Tensor> keep;  // final keep masks by linear name (when finished)
  std::vector<torch::Tensor> theta;           // the mask logits at the end of this run
  nlohmann::ordered_json summary;             // training summary for leap_sparsity.json
  std::vector<double> step_seconds;           // wall time of each optimizer step of this run
};

using PriorFn = std::function<std::map<std::string, torch::Tensor>()>;

// What the run around the trainer decides.
struct TrainContext {
  double sparsity = 0.5;                                  // the global budget s over the decoder linears (--sparsity)
  int64_t seed = 0;                                       // --seed: initial logits, data order, mask noise
  nlohmann::json fingerprint = nlohmann::json::object();  // identifies the run (model, data) for --resume
  Comm* comm = nullptr;                                   // data parallelism; null for one process
  int64_t nm_n = 0, nm_m = 0;  // learnable N:M masks (model/nm_mask.h) for --sparsity_type N:M; 0:0 unstructured
};

// Trains masks for `m` (weights untouched until the end, then pruned in place). make_prior
// returns Wanda keep masks by linear name; it is not called when resuming from a checkpoint.
// With a Comm of W ranks every rank calls this with the same arguments: rank r runs micro-batches
// [r·A/W, (r+1)·A/W) of each global batch (A = global_batch / micro_batch), make_prior is called
// on rank 0 only, and the result (θ, masks) equals the single-process run's up to floating-point
// summation order. The checkpoint folder is o.ckpt_dir (needed by save_every / resume /
// max_steps_per_run).
LeapResult train_leap(CausalLM& m, const Tokenizer& tok, const PriorFn& make_prior, const TrainOptions& o,
                      const TrainContext& ctx = {});

// The error a float16 model gets (leap has no loss scaling; bfloat16 needs none).
extern const char* const kFloat16Refusal;

}  // namespace leap
