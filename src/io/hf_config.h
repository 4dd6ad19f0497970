// hf_config.h — HuggingFace config.json → ModelConfig for the supported families.
//
// Supported `model_type`s: llama (Llama 3.x and llama2.c conversions), qwen2 (Qwen2.5),
// gemma3_text, and gemma3 (the text part of the multimodal config; vision ignored). Both the
// classic rope fields (rope_theta / rope_scaling / rope_local_base_freq) and transformers 5's
// `rope_parameters` are understood. Unknown keys are ignored; missing required keys and
// unsupported values (model_type, rope type, activation) are errors naming config.json.
//
// Not here: weights (model.h), tokenizer settings (tokenizer.h).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace leap {

enum class Family { llama, qwen2, gemma3 };
const char* family_name(Family f);

struct RopeConfig {
  std::string type = "default";  // default | linear | llama3
  double theta = 10000.0;
  double factor = 1.0;  // linear, llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string source;      // path of config.json (for messages)
  std::string model_type;  // as written in the file
  Family family = Family::llama;

  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  std::string hidden_act = "silu";  // silu | gelu_pytorch_tanh | gelu

  bool qkv_bias = false;  // q/k/v projections carry a bias (Qwen2, Llama attention_bias)
  bool o_bias = false;    // o_proj carries a bias (Llama attention_bias)
  bool mlp_bias = false;
  bool tie_word_embeddings = false;

  // Gemma-3 specifics.
  bool norm_one_plus = false;   // RMSNorm computes x̂·(1 + w)
  bool sandwich_norms = false;  // pre/post attention and pre/post feed-forward norms
  bool qk_norm = false;         // per-head RMSNorm on q and k
  bool embed_scale = false;     // embeddings × sqrt(hidden_size)
  double attn_scale = 0;        // softmax scale (1/sqrt(head_dim), or query_pre_attn_scalar^-1/2)
  std::optional<double> final_logit_softcapping;
  std::optional<double> attn_logit_softcapping;

  std::vector<bool> layer_is_sliding;  // one per layer
  int64_t sliding_window = 0;          // tokens a sliding layer sees, itself included
  RopeConfig rope_global;              // rope for full-attention layers
  RopeConfig rope_local;               // rope for sliding layers

  // Checkpoint key prefix of the text decoder: "model." for causal LMs; multimodal Gemma-3
  // files use "language_model.model." (older) or "model.language_model." (transformers 5).
  bool multimodal = false;

  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // "float32", "bfloat16", ... or empty
};

ModelConfig load_hf_config(const std::string& config_json_path);
ModelConfig parse_hf_config(const std::string& json_text, const std::string& source);

}  // namespace leap
