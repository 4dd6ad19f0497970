// bucketed_adamw.h — the LEAP mask logits as data-parallel trainable state: θ for every masked
// linear lives in a few flat buckets (formed from the last layer backwards, the order backward
// produces gradients), gradients accumulate in place into flat float32 bucket buffers, and AdamW
// (torch's exact update order) runs over whole buckets.
//
// Gradients are float32 whatever θ's dtype: a bfloat16 sum over micro-batches (and a bfloat16
// all-reduce) would lose the density penalty's ~1e-10 per entry beside the cross-entropy's. The
// autograd leaf of each linear is therefore not θ itself but a float32 "gradient leaf" of θ's
// shape with zero strides (4 bytes of storage) whose .grad is that linear's view of the float32
// bucket; the masked linear's backward computes dL/dθ in float32 and autograd adds it there.
//
// With a Comm of W ranks, each bucket's gradient is reduced as soon as its last gradient has been
// accumulated in the final micro-batch (post-accumulate-grad hooks), overlapping with the rest of
// backward:
//   - replicated (default): all-reduce of the bucket; every rank updates the whole θ.
//   - sharded (--shard_optimizer, ZeRO-1/2): the bucket (padded to a multiple of W) is
//     reduce-scattered; rank r keeps AdamW moments (and the float32 master copy when θ is
//     bfloat16) only for its slice r of every bucket, updates that slice, and the new θ is
//     all-gathered. Clipping uses the global norm (squared norms of the slices all-reduced).
// The gradient sum over ranks is the global-batch gradient because the trainer scales each
// micro-batch loss by 1/(micro-batches per global batch) — the division by W is folded into it.
//
// With moments_8bit (--optim adamw_8bit) the moments are block-wise 8-bit codes (adamw_8bit.h):
// 2 bytes per logit instead of 8. Every linear then starts on a block boundary of its bucket (its
// blocks are its own, whatever the bucketing or the number of shards) and every shard holds whole
// blocks; the checkpoint keeps the codes and scales themselves, so a resumed run continues exactly.
//
// What it does not do: sample masks, compute losses or decide the data split (leap_trainer.cpp).
// See docs/METHOD.md §1.5.
#pragma once
#include <memory>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "leap/distributed.h"

namespace leap {

struct BucketedAdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.0;
  bool shard = false;         // ZeRO-style sharding of the optimizer state (needs a Comm)
  double bucket_mib = 25.0;   // target bucket size for the gradient reduction
  bool moments_8bit = false;  // AdamW moments as block-wise 8-bit codes (adamw_8bit.h)
};

// AdamW moments of every masked linear as a checkpoint keeps them: float32 of the linear's shape,
// or with 8-bit moments the codes (uint8 [numel rounded up to 256]) in exp_avg / exp_avg_sq and the
// block scales (float32 [that / 256]) in exp_avg_scale / exp_avg_sq_scale.
struct AdamMoments {
  std::vector<torch::Tensor> exp_avg, exp_avg_sq, exp_avg_scale, exp_avg_sq_scale;
  bool quantized() const { return !exp_avg_scale.empty(); }
};

class BucketedAdamW {
 public:
  // shapes: one per masked linear, in layer order; dtype: θ's storage dtype (float32 or bfloat16).
  // comm: nullptr (or world 1) for one process. Initial θ is zero; call set_theta.
  BucketedAdamW(const std::vector<std::vector<int64_t>>& shapes, torch::Dtype dtype, torch::Device dev,
                const BucketedAdamWOptions& o, Comm* comm);
  ~BucketedAdamW();

  // θ per linear: views of the bucket storage (θ's dtype, no autograd).
  const std::vector<torch::Tensor>& params() const { return params_; }
  // The autograd leaves that receive dL/dθ (float32, zero strides; .grad() is the float32 bucket view).
  const std::vector<torch::Tensor>& grad_leaves() const { return leaves_; }
  // For a backward that adds dL/dθ into grad_leaves()[i].grad() itself (bypassing autograd's
  // accumulation and with it the leaf's hook): what the hook would have done, to call after the
  // addition; null in a single process (nothing to reduce). Valid for the optimizer's lifetime.
  const std::function<void()>* grad_ready(size_t i) const;
  int64_t numel() const { return numel_; }

  // Full per-linear values (any device/dtype): θ (float32 master where kept), AdamW moments (float32
  // moments given to 8-bit ones are quantized; codes and scales given to float32 ones, refused).
  void set_theta(const std::vector<torch::Tensor>& theta);
  void set_moments(const AdamMoments& moments);
  // Full per-linear CPU copies: θ in float32, the moments in their own form (AdamMoments). A
  // collective when sharded: every rank must call it with the same outputs requested. copy = false:
  // take part in the collectives only, fill nothing (the ranks that do not write the result keep no
  // host copy).
  void gather(std::vector<torch::Tensor>* theta, AdamMoments* moments, bool copy = true);

  void zero_grad();
  // The next backward completes this step's local gradients: reduce each bucket when it is ready.
  void arm_reduction();
  // Waits for the reductions (launching any a bucket's hooks did not); afterwards the owned
  // gradient holds the sum over ranks.
  void finish_reduction();
  // Scales the owned gradients by min(1, max_norm / (‖g‖ + 1e-6)) with the global norm; returns ‖g‖.
  // side: a float64 vector on θ's device that comes to the host in the same read as ‖g‖ (replaced by
  // its host copy): the step's only host synchronisation.
  double clip_grad_norm(double max_norm, torch::Tensor* side = nullptr);
  // One AdamW step (1-based t) on the owned slices; sharded: θ all-gathered afterwards.
  void step(int64_t t, double lr);

  // Bytes of optimizer-related state held by this rank (θ, grads, moments, master, reduce buffers).
  int64_t state_bytes() const;
  std::string describe() const;

  struct Impl;  // public so the hooks can reach it

 private:
  std::unique_ptr<Impl> impl_;
  std::vector<torch::Tensor> params_, leaves_;
  int64_t numel_ = 0;
};

}  // namespace leap
