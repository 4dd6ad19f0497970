// lm_loss.h — next-token losses from the last block's hidden states without a [tokens, vocab]
// logits tensor: the final norm, the LM head (and Gemma's final soft-cap) and a float32
// log-softmax run a chunk of positions at a time.
//
// Two forms. next_token_nll: −log p(target) at every position, no gradient (evaluation).
// next_token_cross_entropy: the mean, differentiable with respect to the hidden states; its
// gradient is computed in the forward pass, where each chunk's softmax is at hand, and kept
// ([tokens, H]) for backward — the fused linear cross-entropy of Liger-Kernel and Apple's
// cut-cross-entropy, on LibTorch ops. Under CUDA autocast the LM head runs in the autocast dtype,
// as the plain linear would.
// A third, next_token_distill_loss, adds dense-teacher distillation in the same pass: each chunk's
// teacher logits are formed from the teacher's hidden states beside the student's, and the
// gradient of the mixed loss is formed at once.
// Not here: ignore_index, label smoothing, z-loss, a gradient for the LM head weight (leap keeps it
// frozen).
#pragma once
#include <torch/torch.h>

#include "model/model.h"

namespace leap {

// positions per chunk unless a caller says otherwise (the memory model counts one chunk's logits)
constexpr int64_t kLossChunk = 512;

// h: [B, T, H] (before the final norm), targets: [B, T] int64 → [B, T] float32
torch::Tensor next_token_nll(CausalLM& m, const torch::Tensor& h, const torch::Tensor& targets,
                             int64_t chunk = kLossChunk);

// mean over the B·T positions of −log p(target), a float32 scalar equal to
// F::cross_entropy(m->head(h).to(float32).view({-1, V}), targets.view({-1})); gradient to h only.
torch::Tensor next_token_cross_entropy(CausalLM& m, const torch::Tensor& h, const torch::Tensor& targets,
                                       int64_t chunk = kLossChunk);

// Distillation from a teacher's last hidden states ht [B, T, H] (no gradient) through the same
// final norm and LM head:
//   loss = (1 − a)·CE + a·τ²·KL(p_t ‖ p_s),  p_t = softmax(z_t / τ), p_s = softmax(z_s / τ)
// (Hinton et al. 2015; KL is the mean over positions). topk > 0 keeps the teacher's k largest
// logits per position, p_t renormalised over them (memory and noise on large vocabularies).
// Gradient to h: ∂/∂z_s = (1 − a)(softmax(z_s) − onehot)/N + a·τ(p_s − p_t)/N.
struct DistillLoss {
  torch::Tensor loss;     // differentiable scalar
  double ce = 0, kl = 0;  // the two means, for logs
};
DistillLoss next_token_distill_loss(CausalLM& m, const torch::Tensor& h, const torch::Tensor& targets,
                                    const torch::Tensor& ht, double weight, double temperature, int64_t topk,
                                    int64_t chunk = kLossChunk);

}  // namespace leap
