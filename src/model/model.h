// model.h — one decoder-only transformer covering Llama 3.x, Qwen2.5 and Gemma-3 (text).
//
// Module and parameter names equal the HF checkpoint keys ("model.layers.3.mlp.up_proj.weight"),
// so loading is a name match: a missing, unexpected or mis-shaped key is an error. Parameters are
// allocated uninitialised (no wasted default init) in the requested dtype on the requested
// device, and frozen (requires_grad = false): pruning code attaches its own state.
//
// What the forward pass covers: RoPE (default / linear / llama3 scaling; separate local rope for
// Gemma-3 sliding layers), grouped-query attention through scaled_dot_product_attention, q/k/v
// biases, RMSNorm (w·x̂, or (1+w)·x̂ for Gemma), q/k norms, Gemma's four norms per layer and
// sqrt(hidden) embedding scale, query_pre_attn_scalar, interleaved sliding-window layers,
// attention and final-logit soft-capping, SiLU / gelu_pytorch_tanh gated MLPs.
// Besides plain causal rows, a row can be a token tree (TokenTree): sequences that share prefixes
// packed with each shared prefix once, every token at its own position and attending to its
// ancestors only (leap eval scores multiple-choice documents so).
// Not here: KV caches (leap scores whole sequences), padding masks (callers right-pad: with a
// causal mask, right padding cannot influence earlier positions).
#pragma once
#include <functional>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "io/hf_config.h"
#include "model/mask.h"

namespace leap {

// y = x Wᵀ (+ b). W: [out, in]. When `mask` is defined, y = x (W ⊙ M)ᵀ (+ b) through
// masked_linear, whose backward writes the mask logits' gradient (LEAP, mask.h); `input_observer`,
// when set, sees every input (calibration statistics).
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias, const torch::TensorOptions& opt);
  torch::Tensor forward(const torch::Tensor& x);  // x: [..., in] → [..., out]
  torch::Tensor weight;                           // [out, in]
  torch::Tensor bias;                             // [out] or undefined
  LinearMask mask;                                // LEAP's sampled mask of this micro-batch, or undefined
  std::function<void(const torch::Tensor&)> input_observer;
};
TORCH_MODULE(Linear);

// RMSNorm over the last dimension, computed in float32 as HF does.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, bool one_plus, const torch::TensorOptions& opt);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [dim]
  double eps;
  bool one_plus;  // Gemma: x̂·(1+w) in float32; Llama/Qwen: w·x̂ in the input dtype
};
TORCH_MODULE(RMSNorm);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab, int64_t dim, const torch::TensorOptions& opt);
  torch::Tensor forward(const torch::Tensor& ids);  // [B, S] int64 → [B, S, dim]
  torch::Tensor weight;                             // [vocab, dim]
};
TORCH_MODULE(Embedding);

// cos/sin tables for positions [0, S): each [S, head_dim] in the model dtype (or, gathered at a
// token tree's positions, [B, 1, S, head_dim]).
struct RopeTables {
  torch::Tensor cos, sin;
};

// Several token sequences packed into one row as a prefix tree, each shared prefix once. Token t
// of row b sits at position positions[b][t] (its depth: its position in every sequence through it)
// and attends to the tokens j with visible[b][t][j] (itself and its ancestors), so its hidden
// state equals the one at the same place of each unpacked sequence. Padding: a token that sees
// itself only.
struct TokenTree {
  torch::Tensor ids;        // [B, S] int64
  torch::Tensor positions;  // [B, S] int64
  torch::Tensor visible;    // [B, S, S] bool
};
RopeTables rope_tables(const RopeConfig& rope, int64_t head_dim, int64_t seq_len, torch::Dtype dtype,
                       const torch::Device& device);
// inverse frequencies [head_dim/2] (float32), after rope scaling.
torch::Tensor rope_inv_freq(const RopeConfig& rope, int64_t head_dim);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, int64_t layer, const torch::TensorOptions& opt);
  // x: [B, S, H] → [B, S, H]. visible: [B, 1, S, S] bool (true = attend), the sliding window
  // already applied; undefined = causal (and the window on sliding layers).
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& visible = {});
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};

 private:
  const ModelConfig* cfg_;
  bool sliding_;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(const ModelConfig& c, const torch::TensorOptions& opt);
  torch::Tensor forward(const torch::Tensor& x);  // down(act(gate(x)) ⊙ up(x))
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  std::string act_;
};
TORCH_MODULE(MLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& c, int64_t layer, const torch::TensorOptions& opt);
  // [B, S, H] → [B, S, H]; visible as AttentionImpl::forward
  torch::Tensor forward(const torch::Tensor& x, const RopeTables& rope, const torch::Tensor& visible = {});
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  RMSNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};  // Gemma-3
  bool sliding;

 private:
  bool sandwich_;
};
TORCH_MODULE(DecoderLayer);

// The decoder backbone, registered as "model".
class BackboneImpl : public torch::nn::Module {
 public:
  BackboneImpl(const ModelConfig& c, const torch::TensorOptions& opt);
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  std::vector<DecoderLayer> layer_list;
};
TORCH_MODULE(Backbone);

class CausalLMImpl : public torch::nn::Module {
 public:
  CausalLMImpl(const ModelConfig& c, const torch::TensorOptions& opt);

  // input_ids: [B, S] int64 → logits [B, S, vocab] in the model dtype.
  torch::Tensor forward(const torch::Tensor& input_ids);

  // The pieces of forward, for block-by-block calibration and checkpointed training.
  torch::Tensor embed(const torch::Tensor& input_ids);  // → hidden [B, S, H]
  // Rope tables for sequences of length S: index 0 global, 1 local.
  std::pair<RopeTables, RopeTables> rope(int64_t seq_len) const;
  torch::Tensor run_layer(int64_t i, const torch::Tensor& h, const std::pair<RopeTables, RopeTables>& rope);
  torch::Tensor head(const torch::Tensor& h);  // final norm + lm_head (+ soft-cap) → logits
  // embed + every block: the last block's output [B, S, H], before the final norm; forward = head(hidden).
  torch::Tensor hidden(const torch::Tensor& input_ids);
  // The same for token-tree rows: [B, S, H] at every tree token.
  torch::Tensor hidden(const TokenTree& tree);

  // The prunable decoder linears (q,k,v,o,gate,up,down of every layer), in layer order.
  struct NamedLinear {
    std::string name;  // e.g. "model.layers.0.self_attn.q_proj"
    int64_t layer;
    std::string type;  // "q_proj", ..., "down_proj"
    Linear linear;
  };
  std::vector<NamedLinear> decoder_linears() const;
  // The prunable linears of block `layer` alone (the same order).
  std::vector<NamedLinear> block_linears(int64_t layer) const;

  const ModelConfig& config() const { return cfg_; }
  torch::Dtype dtype() const { return dtype_; }
  torch::Device device() const { return device_; }
  const torch::Tensor& lm_head_weight() const;

  Backbone model{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  ModelConfig cfg_;
  torch::Dtype dtype_;
  torch::Device device_;
};
TORCH_MODULE(CausalLM);

struct LoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
};

// The module parameter name a checkpoint key loads into ("" = a key leap does not load: vision
// tower, rotary buffers, a tied lm_head copy). Identity for plain causal-LM checkpoints.
std::string canonical_key(const std::string& key, const ModelConfig& c);

// Loads config.json and the safetensors weights of an HF folder (already resolved).
CausalLM load_model(const std::string& dir, const LoadOptions& opt);

// "float32" | "bfloat16" | "float16" (also fp32/bf16/fp16) → dtype; throws otherwise.
torch::Dtype parse_dtype(const std::string& s);
const char* dtype_string(torch::Dtype d);

}  // namespace leap
