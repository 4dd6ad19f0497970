// adamw_8bit.h — AdamW whose moments are stored in 8 bits: block-wise dynamic quantization
// (Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"), as torchao's AdamW8bit
// does it — blocks of 256 values, each scaled by its absolute maximum, codes of bitsandbytes'
// dynamic tree map (signed for m, unsigned for v), round to nearest. Per step and block:
//   m̃, ṽ = dequantize(codes, scale)                       (the stored moments)
//   θ ← θ − lr·wd·θ                                        (decoupled weight decay)
//   m = lerp(m̃, g, 1 − β1),  v = lerp(ṽ, g², 1 − β2)
//   codes, scale = quantize(m), quantize(v)                 (what is kept)
//   θ ← θ − lr · (m / (1 − β1ᵗ)) / (√v / √(1 − β2ᵗ) + ε)    (the update uses the unrounded m, v)
// 2 bytes per parameter (+ 8 per 256 for the scales) instead of 8 for float32 moments.
//
// A fused loop on the CPU (one pass: dequantize, update, quantize), LibTorch ops elsewhere (CUDA);
// both give the same codes. What it does not do: bucketing, sharding, clipping (bucketed_adamw.h).
#pragma once
#include <torch/torch.h>

namespace leap {

constexpr int64_t kMoment8bitBlock = 256;  // values per scale (torchao's block_size)

// The 256 code values in increasing order (float32 on `dev`): bitsandbytes' create_dynamic_map
// (signed: [−1, 1] for m; unsigned: [0, 1] for v).
torch::Tensor dynamic_qmap(bool is_signed, torch::Device dev = torch::kCPU);

// One moment tensor of n values (n a multiple of kMoment8bitBlock): codes uint8 [n], scales float32
// [n / 256] (the block's absolute maximum, at least 1e-12).
struct Moment8bit {
  torch::Tensor codes, scale;
  torch::Tensor qmap;  // dynamic_qmap(is_signed) on the codes' device, made once (not per step)
  bool is_signed = true;
  static Moment8bit zeros(int64_t n, bool is_signed, torch::Device dev);
  int64_t bytes() const;
};

// x float32 [n] → m (codes and scales of x); and back to float32 [n].
void quantize_moment(const torch::Tensor& x, Moment8bit& m);
torch::Tensor dequantize_moment(const Moment8bit& m);

struct AdamWStep {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, weight_decay = 0.0, eps = 1e-8;
  int64_t t = 1;  // 1-based step
};

// One AdamW step on p (float32 [n], in place) from g (float32 [n]) with 8-bit moments m (signed)
// and v (unsigned), updated in place. fused = false: the LibTorch ops even on the CPU (tests).
void adamw_8bit_step(torch::Tensor& p, const torch::Tensor& g, Moment8bit& m, Moment8bit& v, const AdamWStep& s,
                     bool fused = true);

}  // namespace leap
