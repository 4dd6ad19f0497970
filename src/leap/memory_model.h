// memory_model.h — how much memory a LEAP run needs per rank, from config.json alone (no weights
// are read): bytes per masked parameter for weights, mask logits θ, their gradients, AdamW moments,
// the float32 master copy, the sampled masks; plus activations per micro-batch and the logits.
// docs/MEMORY.md derives every term; `leap prune --dry_run` prints the table for the chosen model
// and settings; leap_bench compares it with the measured peak resident memory.
//
// What it does not do: model allocator fragmentation, or memory of other processes on the device.
#pragma once
#include <string>
#include <vector>

#include "io/hf_config.h"
#include "leap/train_options.h"

namespace leap {

struct MemoryInputs {
  int64_t model_bytes = 2;  // bytes per weight of the model dtype
  int64_t mask_bytes = 4;   // bytes per θ / gradient / sampled mask (float32 or bfloat16)
  int world = 1;
  bool shard = false;
  int64_t micro_batch = 1, seqlen = 4096;
  bool grad_checkpoint = false;
  bool cuda = true;            // runtime constant: CUDA context vs CPU libraries
  bool autocast = false;       // float32 model under bf16 autocast: activations in 2 bytes
  double bucket_mib = 25.0;    // gradient bucket target (the optimizer's scratch is one bucket slice)
  bool moments_8bit = false;   // --optim adamw_8bit: 2 bytes (+ a scale per 256) instead of 8
  bool distill = false;        // --distill_weight > 0: the teacher's hidden states and logits
  int64_t nm_n = 0, nm_m = 0;  // learnable N:M masks: C(M,N)/M pattern logits per weight (1.5 for 2:4, 8.75 for 4:8)
  bool device_masks = false;   // the device-resident mask path (device_mask.h): W*M kept instead of M
};

struct MemoryTerm {
  std::string name;
  double bytes_per_masked = 0;  // 0 when the term does not scale with masked parameters
  double bytes = 0;
};

struct MemoryEstimate {
  int64_t params = 0, masked = 0;
  std::vector<MemoryTerm> terms;
  double total = 0;       // peak during training, per rank
  double prior_peak = 0;  // rank 0 before training: two weight copies + calibration activations
};

// Decoder-linear (masked) parameter count and total parameter count of a config.
int64_t masked_param_count(const ModelConfig& c);
int64_t total_param_count(const ModelConfig& c);

MemoryEstimate estimate_memory(const ModelConfig& c, const MemoryInputs& in, int64_t nsamples = 128,
                               int64_t calib_seqlen = 2048);

// The run around the training that the estimate also needs (`leap prune --dry_run`).
struct MemoryPlan {
  int64_t nsamples = 128, calib_seqlen = 2048;  // the Wanda prior's calibration
  int64_t gpu_memory_gib = 80;                  // memory per device to fit
  int model_dtype_bytes = 2;
  int world = 1;
  bool cuda = true;
  int64_t nm_n = 0, nm_m = 0;  // --sparsity_type N:M (learnable N:M masks); 0:0 unstructured
};
// The estimate's inputs for the LEAP settings and the plan.
MemoryInputs memory_inputs(const TrainOptions& o, const MemoryPlan& plan);
// The table for config `c` (read from `source`), the LEAP settings and the plan.
std::string memory_estimate_table(const ModelConfig& c, const std::string& source, const TrainOptions& o,
                                  const MemoryPlan& plan);

}  // namespace leap
