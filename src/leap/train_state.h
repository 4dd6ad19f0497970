// train_state.h — LEAP training checkpoints: everything a resumed run needs to continue exactly
// as an uninterrupted one (mask logits, AdamW moments, step, RNG states, data order and cursor,
// metrics so far), written every --save_every steps as <ckpt_dir>/step_XXXXXXXX/. Each checkpoint is
// assembled under a temporary name and renamed into place, so a folder named step_* is always
// complete; the newest two are kept. A fingerprint of the run's settings is stored and checked on
// resume (a different budget, batch or data would not be a continuation).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "leap/bucketed_adamw.h"

namespace leap {

struct TrainState {
  int64_t step = 0;                  // optimizer steps completed
  std::vector<torch::Tensor> theta;  // per masked linear, CPU
  AdamMoments moments;               // per masked linear, CPU (float32, or 8-bit codes and scales)
  torch::Tensor cpu_rng;             // generator state of the initial logits (uint8); mask noise is counter-based
  std::string data_rng;              // std::mt19937_64 state, textual
  std::vector<int64_t> order;
  int64_t cursor = 0;
  nlohmann::json fingerprint;
  std::string metrics;  // metrics JSONL so far
  double first_ce = 0;
};

// Writes state to ckpt_dir/step_<step>/ atomically; keeps the newest `keep` checkpoints.
void save_train_state(const std::string& ckpt_dir, const std::vector<std::string>& names, const TrainState& s,
                      int keep = 2);
// Loads the newest complete checkpoint; false when there is none. Throws when the fingerprint
// differs from `expect`, naming the differing settings.
bool load_latest_train_state(const std::string& ckpt_dir, const std::vector<std::string>& names,
                             const nlohmann::json& expect, TrainState& s);

}  // namespace leap
