// train_options.h — the settings of one LEAP training run (the `leap prune --method leap` flags
// that the trainer reads), with their defaults from the reference recipe (docs/METHOD.md §1.8).
// The application composes this struct into its `leap prune` arguments; visit() lists each
// field once for the flags, --help, the config table and the JSON config. Torch-free.
#pragma once
#include <cstdint>
#include <string>

#include "base/error.h"

namespace leap {

struct TrainOptions {
  std::string train_data;  // default: the model preset's; none is an error
  std::string train_split = "train";
  std::string text_field = "text";
  int64_t max_train_samples = 0;  // blocks kept (and 6x as many documents read); 0: all
  int64_t pack_batch = 1000, pack_shards = 96;
  int64_t data_workers = 0;  // tokeniser threads; 0: all cores
  double data_timeout = 7200;
  int64_t steps = 2000;
  int64_t global_batch = 128;
  int64_t micro_batch = 1;
  int64_t seqlen = 4096;
  double lr = 1e-3;
  std::string optim = "adamw";
  double beta1 = 0.9, beta2 = 0.95, weight_decay = 0.0;
  int64_t warmup_steps = 5;
  double max_grad_norm = 1.0;
  double sparse_reg = 7.0, weight_reg = 10.0;
  double tau_start = 4.0, tau_end = 0.05, kappa_start = 25.0, kappa_end = 350.0;
  double prior_strength = 3.0, init_std = 0.014;
  double distill_weight = 0.0, distill_temperature = 1.0;  // dense-teacher distillation (0: off)
  int64_t distill_topk = 0;                                // teacher logits kept per position (0: all)
  std::string final_mask = "exact";
  int64_t log_every = 10;
  std::string log_file;
  int64_t save_every = 0;
  std::string ckpt_dir;  // the caller resolves the default (<save_model>.leap_ckpt)
  bool resume = false;
  int64_t max_steps_per_run = 0;
  bool grad_checkpoint = false;
  std::string mask_dtype = "float32";
  std::string mask_path = "auto";
  bool shard_optimizer = false;
  double bucket_mib = 25.0;

  template <class V>
  void visit(V& v) {
    v("train_data", train_data,
      "LEAP: training text: a .txt / .jsonl / .jsonl.gz / .jsonl.zst / .parquet file, a folder or glob of them, or a "
      "dataset id ORG/NAME in the local HF cache; tokenised once into leap's token cache, packed into --seqlen blocks",
      false);
    v("train_split", train_split, "LEAP: split of an HF dataset --train_data", false);
    v("text_field", text_field, "the text field of .jsonl and column of .parquet data (training and calibration)",
      false);
    v("max_train_samples", max_train_samples,
      "LEAP: keep the first N packed blocks, read from the first 6N documents, as the reference (0: all)", false);
    v("pack_batch", pack_batch,
      "LEAP: documents concatenated per packing batch (remainder dropped), HF map's batch_size in the reference",
      false);
    v("pack_shards", pack_shards,
      "LEAP: contiguous document shards packed apart, the reference's preprocessing_num_workers", false);
    v("data_workers", data_workers, "threads tokenising training text (0: all cores)", false);
    v("data_timeout", data_timeout, "seconds a rank waits for the first local rank to write the token cache", false);
    v("steps", steps, "LEAP: optimizer steps T", false);
    v("global_batch", global_batch, "LEAP: sequences per optimizer step", false);
    v("micro_batch", micro_batch, "LEAP: sequences per forward/backward (fresh mask noise for each)", false);
    v("seqlen", seqlen, "LEAP: tokens per training sequence", false);
    v("lr", lr, "LEAP: peak AdamW learning rate (cosine, warm-up)", false);
    v("optim", optim,
      "LEAP: optimizer of the mask logits: adamw | adamw_8bit (moments in block-wise 8 bits, torchao's AdamW8bit: "
      "2 bytes per logit instead of 8)",
      false);
    v("beta1", beta1, "LEAP: AdamW beta1", false);
    v("beta2", beta2, "LEAP: AdamW beta2", false);
    v("weight_decay", weight_decay, "LEAP: AdamW weight decay on the logits", false);
    v("warmup_steps", warmup_steps, "LEAP: linear warm-up steps", false);
    v("max_grad_norm", max_grad_norm, "LEAP: gradient clipping (global norm)", false);
    v("sparse_reg", sparse_reg, "LEAP: density penalty weight lambda_s", false);
    v("weight_reg", weight_reg, "LEAP: weight-norm reward weight lambda_w (decays to 0)", false);
    v("tau_start", tau_start, "LEAP: Gumbel-sigmoid temperature at step 0", false);
    v("tau_end", tau_end, "LEAP: temperature at step T", false);
    v("kappa_start", kappa_start, "LEAP: logit scale at step 0", false);
    v("kappa_end", kappa_end, "LEAP: logit scale at step T", false);
    v("distill_weight", distill_weight,
      "LEAP: a in (1 - a) CE + a T^2 KL(teacher || student), the teacher the same frozen weights unmasked (0: off)",
      false);
    v("distill_temperature", distill_temperature, "LEAP: distillation temperature T", false);
    v("distill_topk", distill_topk,
      "LEAP: keep the teacher's k largest logits per position, renormalised (0: the whole vocabulary)", false);
    v("prior_strength", prior_strength, "LEAP: Wanda prior strength (in std of the initial logits)", false);
    v("init_std", init_std, "LEAP: std of the initial logits", false);
    v("final_mask", final_mask, "LEAP: exact (global top-k at the budget) | threshold (keep theta > 0)", false);
    v("log_every", log_every, "LEAP: steps between log lines / metrics records", false);
    v("log_file", log_file, "LEAP: metrics JSONL file", false);
    v("save_every", save_every, "LEAP: write a training checkpoint every N steps (0: only when stopping early)", false);
    v("ckpt_dir", ckpt_dir, "LEAP: training checkpoint folder (default: <save_model>.leap_ckpt)", false);
    v("resume", resume, "LEAP: continue from the newest complete checkpoint in --ckpt_dir", false);
    v("max_steps_per_run", max_steps_per_run,
      "LEAP: stop after N steps of this invocation with a checkpoint (continue with --resume)", false);
    v("grad_checkpoint", grad_checkpoint,
      "LEAP: recompute each decoder block in backward instead of storing its activations", false);
    v("mask_dtype", mask_dtype,
      "LEAP: dtype of the mask logits and their gradients: float32 | bfloat16 (bfloat16 keeps a float32 master copy "
      "and float32 AdamW moments)",
      false);
    v("mask_path", mask_path,
      "LEAP: where the unstructured mask lives per micro-batch: host (M kept, statistics read per linear: the CPU's "
      "fused loops) | device (W*M and the statistics stay on the device, one host read per step: CUDA's fused "
      "kernels; on the CPU the same math in host loops) | auto (device on CUDA, host on the CPU)",
      false);
    v("shard_optimizer", shard_optimizer,
      "data parallel: shard AdamW state and master logits over the ranks (ZeRO-1/2)", false);
    v("bucket_mib", bucket_mib, "data parallel: gradient all-reduce bucket size in MiB", false);
  }
};

// --optim: true for adamw_8bit (8-bit AdamW moments), false for adamw; any other name is an error.
inline bool moments_8bit(const TrainOptions& o) {
  LEAP_CHECK(o.optim == "adamw" || o.optim == "adamw_8bit", "--optim must be adamw or adamw_8bit (got '%s')",
             o.optim.c_str());
  return o.optim == "adamw_8bit";
}

}  // namespace leap
