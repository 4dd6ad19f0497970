// grad_checkpoint.h — activation recomputation per decoder block (`--grad_checkpoint`, what HF
// calls gradient checkpointing; LibTorch has no torch.utils.checkpoint). The block runs without
// saving its activations; backward re-runs it
// with gradients enabled from the saved block input and the same soft masks (their θ leaves are
// inputs of the function, so the masked linears' θ gradients reach them), then backpropagates.
// Masks are sampled outside the recomputed region, as in the reference, so the re-run sees
// exactly the forward's masks and the gradient is unbiased (docs/METHOD.md §1.2). The re-run runs
// under the forward's autocast state (the engine's backward thread has autocast off).
#pragma once
#include <torch/torch.h>

#include "model/model.h"

namespace leap {

// h: [B, S, H] input of block `layer`; masks: the soft masks of that block's linears, in the
// order of CausalLMImpl::decoder_linears(). Returns the block output.
torch::Tensor recomputed_block(CausalLMImpl& m, int64_t layer, const torch::Tensor& h,
                               const std::vector<LinearMask>& masks, const std::pair<RopeTables, RopeTables>& rope);

// Frees this thread's records of recomputed blocks (each holds its block's masks: M and views of
// θ) once their backward has run; the trainer calls it after every micro-batch's backward, so
// nothing stays alive through the final mask, the save and evaluation.
void release_recomputed_blocks();
// How many records this thread holds (0 after release_recomputed_blocks; for tests).
size_t recomputed_block_records();

}  // namespace leap
