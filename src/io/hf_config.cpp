// hf_config.cpp — see hf_config.h. Defaults follow the transformers config classes
// (LlamaConfig, Qwen2Config, Gemma3TextConfig) for keys a file leaves out.
#include "io/hf_config.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"

namespace leap {
using json = nlohmann::json;

const char* family_name(Family f) {
  switch (f) {
    case Family::llama:
      return "llama";
    case Family::qwen2:
      return "qwen2";
    case Family::gemma3:
      return "gemma3";
  }
  return "?";
}

namespace {

constexpr int64_t kMaxLayers = 65536;  // far above any real model (Llama-3.1-405B: 126); bounds layer_is_sliding

struct Reader {
  const json& j;
  const std::string& src;
  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  // max bounds a count that sizes an allocation while the config is read
  int64_t req_int(const char* k, int64_t max = std::numeric_limits<int64_t>::max()) const {
    if (!has(k)) fail("%s: missing required key \"%s\"", src.c_str(), k);
    if (!j[k].is_number_integer() || j[k].get<int64_t>() <= 0)
      fail("%s: \"%s\" must be a positive integer", src.c_str(), k);
    if (j[k].get<int64_t>() > max)
      fail("%s: \"%s\" = %lld is more than %lld", src.c_str(), k, (long long)j[k].get<int64_t>(), (long long)max);
    return j[k].get<int64_t>();
  }
  int64_t opt_int(const char* k, int64_t def) const {
    if (!has(k)) return def;
    if (!j[k].is_number_integer()) fail("%s: \"%s\" must be an integer", src.c_str(), k);
    return j[k].get<int64_t>();
  }
  double opt_num(const char* k, double def) const {
    if (!has(k)) return def;
    if (!j[k].is_number()) fail("%s: \"%s\" must be a number", src.c_str(), k);
    return j[k].get<double>();
  }
  std::optional<double> opt_num(const char* k) const {
    if (!has(k)) return std::nullopt;
    if (!j[k].is_number()) fail("%s: \"%s\" must be a number", src.c_str(), k);
    return j[k].get<double>();
  }
  bool opt_bool(const char* k, bool def) const {
    if (!has(k)) return def;
    if (!j[k].is_boolean()) fail("%s: \"%s\" must be true or false", src.c_str(), k);
    return j[k].get<bool>();
  }
  std::string opt_str(const char* k, const std::string& def) const {
    if (!has(k)) return def;
    if (!j[k].is_string()) fail("%s: \"%s\" must be a string", src.c_str(), k);
    return j[k].get<std::string>();
  }
};

// Reads one rope description: {"rope_type"|"type", "rope_theta"?, "factor", ...}.
RopeConfig parse_rope(const json& r, double theta, const std::string& src, const char* what) {
  RopeConfig c;
  c.theta = theta;
  if (r.is_null()) return c;
  if (!r.is_object()) fail("%s: \"%s\" must be an object or null", src.c_str(), what);
  Reader rd{r, src};
  c.type = rd.opt_str("rope_type", rd.opt_str("type", "default"));
  c.theta = rd.opt_num("rope_theta", theta);
  if (c.type == "default") return c;
  if (c.type == "linear") {
    if (!rd.has("factor")) fail("%s: %s of type linear needs \"factor\"", src.c_str(), what);
    c.factor = rd.opt_num("factor", 1.0);
  } else if (c.type == "llama3") {
    for (const char* k : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!rd.has(k)) fail("%s: %s of type llama3 needs \"%s\"", src.c_str(), what, k);
    c.factor = rd.opt_num("factor", 8.0);
    c.low_freq_factor = rd.opt_num("low_freq_factor", 1.0);
    c.high_freq_factor = rd.opt_num("high_freq_factor", 4.0);
    c.original_max_position_embeddings = rd.opt_num("original_max_position_embeddings", 8192);
  } else {
    fail("%s: unsupported %s type \"%s\" (supported: default, linear, llama3)", src.c_str(), what, c.type.c_str());
  }
  if (!(c.factor > 0)) fail("%s: %s factor must be positive", src.c_str(), what);
  return c;
}

// Sizes, norms and the activation.
void read_shapes(const Reader& rd, ModelConfig& c, bool gemma) {
  const std::string& src = c.source;
  c.hidden_size = rd.req_int("hidden_size");
  c.intermediate_size = rd.req_int("intermediate_size");
  c.num_layers = rd.req_int("num_hidden_layers", kMaxLayers);
  c.num_heads = rd.req_int("num_attention_heads");
  c.vocab_size = gemma && !rd.has("vocab_size") ? 262208 : rd.req_int("vocab_size");
  c.num_kv_heads = rd.opt_int("num_key_value_heads", c.num_heads);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    fail("%s: num_attention_heads (%lld) must be a multiple of num_key_value_heads (%lld)", src.c_str(),
         (long long)c.num_heads, (long long)c.num_kv_heads);
  c.head_dim = rd.opt_int("head_dim", gemma ? 256 : c.hidden_size / c.num_heads);
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) fail("%s: head_dim must be a positive even number", src.c_str());
  if (!rd.has("head_dim") && !gemma && c.hidden_size % c.num_heads != 0)
    fail("%s: hidden_size is not a multiple of num_attention_heads and no head_dim is given", src.c_str());
  c.max_position_embeddings = rd.opt_int("max_position_embeddings", gemma ? 131072 : 2048);
  c.rms_norm_eps = rd.opt_num("rms_norm_eps", 1e-6);
  c.hidden_act = gemma ? rd.opt_str("hidden_activation", rd.opt_str("hidden_act", "gelu_pytorch_tanh"))
                       : rd.opt_str("hidden_act", "silu");
  if (c.hidden_act != "silu" && c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "gelu")
    fail("%s: unsupported activation \"%s\" (supported: silu, gelu_pytorch_tanh, gelu)", src.c_str(),
         c.hidden_act.c_str());
}

// Tied embeddings (the key may sit at the top level of a multimodal config), biases, norms and the attention scale of
// each family.
void read_attention(const Reader& rd, const Reader& top, ModelConfig& c, bool gemma) {
  const std::string& src = c.source;
  bool tie_default = gemma;
  c.tie_word_embeddings = rd.opt_bool("tie_word_embeddings", top.opt_bool("tie_word_embeddings", tie_default));

  switch (c.family) {
    case Family::llama:
      c.qkv_bias = c.o_bias = rd.opt_bool("attention_bias", false);
      c.mlp_bias = rd.opt_bool("mlp_bias", false);
      break;
    case Family::qwen2:
      c.qkv_bias = true;  // Qwen2Attention: q/k/v with bias, o without
      c.o_bias = false;
      break;
    case Family::gemma3:
      c.qkv_bias = c.o_bias = rd.opt_bool("attention_bias", false);
      c.norm_one_plus = c.sandwich_norms = c.qk_norm = c.embed_scale = true;
      break;
  }
  if (rd.opt_bool("use_bidirectional_attention", false))
    fail("%s: use_bidirectional_attention = true (an encoder-style Gemma) is not supported", src.c_str());
  if (rd.has("partial_rotary_factor") && rd.opt_num("partial_rotary_factor", 1.0) != 1.0)
    fail("%s: partial_rotary_factor != 1 is not supported", src.c_str());

  double qpas = rd.opt_num("query_pre_attn_scalar", static_cast<double>(gemma ? 256 : c.head_dim));
  c.attn_scale = gemma ? 1.0 / std::sqrt(qpas) : 1.0 / std::sqrt(static_cast<double>(c.head_dim));
  c.final_logit_softcapping = rd.opt_num("final_logit_softcapping");
  c.attn_logit_softcapping = rd.opt_num("attn_logit_softcapping");
}

// Which layers use sliding-window attention, and the window.
void read_layer_types(const Reader& rd, const json& j, ModelConfig& c, bool gemma) {
  const std::string& src = c.source;
  c.layer_is_sliding.assign(static_cast<size_t>(c.num_layers), false);
  if (rd.has("layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) != c.num_layers)
      fail("%s: \"layer_types\" must list one entry per layer (%lld)", src.c_str(), (long long)c.num_layers);
    for (size_t i = 0; i < lt.size(); ++i) {
      std::string t = lt[i].is_string() ? lt[i].get<std::string>() : "";
      if (t == "sliding_attention")
        c.layer_is_sliding[i] = true;
      else if (t != "full_attention")
        fail("%s: layer_types[%zu] = \"%s\" is not supported (full_attention or sliding_attention)", src.c_str(), i,
             t.c_str());
    }
  } else if (gemma) {
    int64_t pattern = rd.opt_int("sliding_window_pattern", 6);
    for (int64_t i = 0; i < c.num_layers; ++i) c.layer_is_sliding[i] = pattern > 0 && ((i + 1) % pattern) != 0;
  } else if (c.family == Family::qwen2 && rd.opt_bool("use_sliding_window", false)) {
    int64_t mwl = rd.opt_int("max_window_layers", c.num_layers);
    for (int64_t i = 0; i < c.num_layers; ++i) c.layer_is_sliding[i] = i >= mwl;
  }
  bool any_sliding = false;
  for (bool b : c.layer_is_sliding) any_sliding |= b;
  if (any_sliding) {
    c.sliding_window = rd.opt_int("sliding_window", 4096);
    if (c.sliding_window <= 0) fail("%s: sliding_window must be positive", src.c_str());
  }
}

// The rope of global and of local (sliding) layers: rope_parameters (new transformers) or rope_theta + rope_scaling.
void read_rope(const Reader& rd, const json& j, ModelConfig& c, bool gemma) {
  const std::string& src = c.source;
  if (rd.has("rope_parameters")) {
    const json& rp = j["rope_parameters"];
    if (!rp.is_object()) fail("%s: \"rope_parameters\" must be an object", src.c_str());
    if (rp.contains("full_attention") || rp.contains("sliding_attention")) {
      c.rope_global = parse_rope(rp.value("full_attention", json()), 10000.0, src, "rope_parameters.full_attention");
      c.rope_local =
          parse_rope(rp.value("sliding_attention", json()), 10000.0, src, "rope_parameters.sliding_attention");
    } else {
      c.rope_global = c.rope_local = parse_rope(rp, gemma ? 1e6 : 10000.0, src, "rope_parameters");
    }
  } else {
    double theta = rd.opt_num("rope_theta", gemma ? 1e6 : 10000.0);
    c.rope_global = parse_rope(rd.has("rope_scaling") ? j["rope_scaling"] : json(), theta, src, "rope_scaling");
    if (gemma) {
      c.rope_local = RopeConfig{};
      c.rope_local.theta = rd.opt_num("rope_local_base_freq", 10000.0);
    } else {
      c.rope_local = c.rope_global;
    }
  }
}

// BOS / EOS ids and the checkpoint dtype (the text config first, then the top level).
void read_special_tokens(const Reader& rd, const Reader& top, const json& j, const json& root, ModelConfig& c) {
  if (rd.has("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_token_id = j["bos_token_id"].get<int64_t>();
  else if (top.has("bos_token_id") && root["bos_token_id"].is_number_integer())
    c.bos_token_id = root["bos_token_id"].get<int64_t>();
  const json* eos =
      rd.has("eos_token_id") ? &j["eos_token_id"] : (top.has("eos_token_id") ? &root["eos_token_id"] : nullptr);
  if (eos) {
    if (eos->is_number_integer())
      c.eos_token_ids.push_back(eos->get<int64_t>());
    else if (eos->is_array())
      for (const auto& e : *eos)
        if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<int64_t>());
  }
  c.torch_dtype = rd.opt_str("torch_dtype", rd.opt_str("dtype", top.opt_str("torch_dtype", top.opt_str("dtype", ""))));
}

}  // namespace

ModelConfig parse_hf_config(const std::string& text, const std::string& src) {
  json root;
  try {
    root = parse_json_checked(text, src);
  } catch (const json::exception& e) {
    fail("%s: not valid JSON: %s", src.c_str(), e.what());
  }
  if (!root.is_object()) fail("%s: top level is not a JSON object", src.c_str());
  ModelConfig c;
  c.source = src;
  Reader top{root, src};
  c.model_type = top.opt_str("model_type", "");
  if (c.model_type.empty()) fail("%s: missing required key \"model_type\"", src.c_str());

  const json* jp = &root;
  if (c.model_type == "gemma3") {
    if (!root.contains("text_config") || !root["text_config"].is_object())
      fail("%s: model_type gemma3 needs a \"text_config\" object", src.c_str());
    jp = &root["text_config"];
    c.multimodal = true;
  }
  const json& j = *jp;
  Reader rd{j, src};

  if (c.model_type == "llama") {
    c.family = Family::llama;
  } else if (c.model_type == "qwen2") {
    c.family = Family::qwen2;
  } else if (c.model_type == "gemma3_text" || c.model_type == "gemma3") {
    c.family = Family::gemma3;
  } else {
    fail("%s: unsupported model_type \"%s\" (supported: llama, qwen2, gemma3_text, gemma3)", src.c_str(),
         c.model_type.c_str());
  }
  const bool gemma = c.family == Family::gemma3;

  read_shapes(rd, c, gemma);
  read_attention(rd, top, c, gemma);
  read_layer_types(rd, j, c, gemma);
  read_rope(rd, j, c, gemma);
  read_special_tokens(rd, top, j, root, c);
  return c;
}

ModelConfig load_hf_config(const std::string& path) {
  return parse_hf_config(read_file(path), path);
}

}  // namespace leap
