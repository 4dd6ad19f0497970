// model.cpp — the transformer of model.h and its loader. HF equivalents are named next to each
// piece (transformers' modeling_llama / modeling_qwen2 / modeling_gemma3).
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "base/log.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"

namespace leap {
namespace fs = std::filesystem;
using torch::Tensor;
namespace F = torch::nn::functional;

// ---------------------------------------------------------------- building blocks

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& opt) {
  weight = register_parameter("weight", torch::empty({out, in}, opt), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", torch::empty({out}, opt), false);
}

Tensor LinearImpl::forward(const Tensor& x) {
  if (input_observer) input_observer(x);
  if (mask.defined()) return masked_linear(x, weight, mask, bias);
  return torch::nn::functional::linear(x, weight, bias);
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, bool one_plus_, const torch::TensorOptions& opt)
    : eps(eps_), one_plus(one_plus_) {
  weight = register_parameter("weight", torch::empty({dim}, opt), false);
}

Tensor RMSNormImpl::forward(const Tensor& x) {
  Tensor xf = x.to(torch::kFloat32);
  Tensor xn = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);           // x̂ = x / sqrt(mean(x²) + ε)
  if (one_plus) return (xn * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());  // Gemma3RMSNorm
  return weight * xn.to(x.scalar_type());                                              // LlamaRMSNorm
}

EmbeddingImpl::EmbeddingImpl(int64_t vocab, int64_t dim, const torch::TensorOptions& opt) {
  weight = register_parameter("weight", torch::empty({vocab, dim}, opt), false);
}

Tensor EmbeddingImpl::forward(const Tensor& ids) {
  return torch::embedding(weight, ids);
}

// ---------------------------------------------------------------- rotary position embedding

Tensor rope_inv_freq(const RopeConfig& r, int64_t head_dim) {
  // inv_freq_i = 1 / θ^(2i/d)   (float32, as HF's _compute_default_rope_parameters)
  Tensor idx = torch::arange(0, head_dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(head_dim);
  Tensor inv = 1.0 / torch::pow(r.theta, idx);
  if (r.type == "linear") return inv / r.factor;
  if (r.type == "llama3") {  // HF _compute_llama3_parameters, same operation order
    const double old_ctx = r.original_max_position_embeddings;
    const double low_wavelen = old_ctx / r.low_freq_factor;
    const double high_wavelen = old_ctx / r.high_freq_factor;
    Tensor wavelen = 2 * M_PI / inv;
    Tensor inv_llama = torch::where(wavelen > low_wavelen, inv / r.factor, inv);
    Tensor smooth = (old_ctx / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
    Tensor smoothed = (1 - smooth) * inv_llama / r.factor + smooth * inv_llama;
    Tensor medium = torch::logical_not(wavelen < high_wavelen).logical_and(torch::logical_not(wavelen > low_wavelen));
    return torch::where(medium, smoothed, inv_llama);
  }
  return inv;
}

RopeTables rope_tables(const RopeConfig& r, int64_t head_dim, int64_t seq_len, torch::Dtype dtype,
                       const torch::Device& device) {
  Tensor inv = rope_inv_freq(r, head_dim).to(device);
  Tensor pos = torch::arange(seq_len, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  Tensor freqs = torch::outer(pos, inv);        // [S, D/2]
  Tensor emb = torch::cat({freqs, freqs}, -1);  // [S, D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

namespace {
Tensor rotate_half(const Tensor& x) {
  int64_t h = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, h), x.slice(-1, 0, h)}, -1);
}
// x: [B, nh, S, D]; cos/sin: [S, D]. x·cos + rotate_half(x)·sin
Tensor apply_rope(const Tensor& x, const RopeTables& r) {
  return x * r.cos + rotate_half(x) * r.sin;
}
}  // namespace

// ---------------------------------------------------------------- attention, MLP, layer

AttentionImpl::AttentionImpl(const ModelConfig& c, int64_t layer, const torch::TensorOptions& opt)
    : cfg_(&c), sliding_(c.layer_is_sliding[static_cast<size_t>(layer)]) {
  const int64_t H = c.hidden_size, D = c.head_dim;
  q_proj = register_module("q_proj", Linear(H, c.num_heads * D, c.qkv_bias, opt));
  k_proj = register_module("k_proj", Linear(H, c.num_kv_heads * D, c.qkv_bias, opt));
  v_proj = register_module("v_proj", Linear(H, c.num_kv_heads * D, c.qkv_bias, opt));
  o_proj = register_module("o_proj", Linear(c.num_heads * D, H, c.o_bias, opt));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(D, c.rms_norm_eps, c.norm_one_plus, opt));
    k_norm = register_module("k_norm", RMSNorm(D, c.rms_norm_eps, c.norm_one_plus, opt));
  }
}

Tensor AttentionImpl::forward(const Tensor& x, const RopeTables& rope, const Tensor& visible) {
  const ModelConfig& c = *cfg_;
  const int64_t B = x.size(0), S = x.size(1), D = c.head_dim;
  Tensor q = q_proj(x).view({B, S, c.num_heads, D}).transpose(1, 2);     // [B, nh, S, D]
  Tensor k = k_proj(x).view({B, S, c.num_kv_heads, D}).transpose(1, 2);  // [B, nkv, S, D]
  Tensor v = v_proj(x).view({B, S, c.num_kv_heads, D}).transpose(1, 2);
  if (c.qk_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = apply_rope(q, rope);
  k = apply_rope(k, rope);
  const int64_t rep = c.num_heads / c.num_kv_heads;
  if (rep > 1) {  // grouped-query attention: each kv head serves `rep` query heads (HF repeat_kv)
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  const bool window = !visible.defined() && sliding_ && c.sliding_window < S;
  Tensor out;
  if (!c.attn_logit_softcapping) {
    std::optional<Tensor> mask;
    if (visible.defined()) {
      mask = visible;
    } else if (window) {  // allowed: j ≤ i and i − j < W   (HF sliding_window_overlay)
      Tensor i = torch::arange(S, torch::TensorOptions().dtype(torch::kInt64).device(x.device())).unsqueeze(1);
      Tensor j = i.transpose(0, 1);
      mask = (j <= i).logical_and((i - j) < c.sliding_window);
    }
    out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, /*is_causal=*/!mask, c.attn_scale);
  } else {  // soft-capped logits: cap·tanh(s/cap) before the mask, so no fused kernel
    const double cap = *c.attn_logit_softcapping;
    Tensor s = torch::matmul(q, k.transpose(-2, -1)) * c.attn_scale;
    s = torch::tanh(s / cap) * cap;
    Tensor i = torch::arange(S, torch::TensorOptions().dtype(torch::kInt64).device(x.device())).unsqueeze(1);
    Tensor j = i.transpose(0, 1);
    Tensor allowed = visible.defined() ? visible : j <= i;
    if (window) allowed = allowed.logical_and((i - j) < c.sliding_window);
    s = s.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
    Tensor p = torch::softmax(s.to(torch::kFloat32), -1).to(q.scalar_type());
    out = torch::matmul(p, v);
  }
  out = out.transpose(1, 2).reshape({B, S, c.num_heads * D});
  return o_proj(out);
}

MLPImpl::MLPImpl(const ModelConfig& c, const torch::TensorOptions& opt) : act_(c.hidden_act) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, opt));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, opt));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias, opt));
}

Tensor MLPImpl::forward(const Tensor& x) {
  Tensor g = gate_proj(x);
  if (act_ == "silu")
    g = torch::silu(g);
  else if (act_ == "gelu_pytorch_tanh")
    g = torch::gelu(g, "tanh");
  else
    g = torch::gelu(g);
  return down_proj(g * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, int64_t layer, const torch::TensorOptions& opt)
    : sliding(c.layer_is_sliding[static_cast<size_t>(layer)]), sandwich_(c.sandwich_norms) {
  self_attn = register_module("self_attn", Attention(c, layer, opt));
  mlp = register_module("mlp", MLP(c, opt));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, c.norm_one_plus, opt));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, c.norm_one_plus, opt));
  if (sandwich_) {
    pre_feedforward_layernorm =
        register_module("pre_feedforward_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, c.norm_one_plus, opt));
    post_feedforward_layernorm =
        register_module("post_feedforward_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, c.norm_one_plus, opt));
  }
}

Tensor DecoderLayerImpl::forward(const Tensor& x, const RopeTables& rope, const Tensor& visible) {
  if (sandwich_) {  // Gemma3DecoderLayer
    Tensor h = x + post_attention_layernorm(self_attn(input_layernorm(x), rope, visible));
    return h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)));
  }
  Tensor h = x + self_attn(input_layernorm(x), rope, visible);  // LlamaDecoderLayer / Qwen2DecoderLayer
  return h + mlp(post_attention_layernorm(h));
}

BackboneImpl::BackboneImpl(const ModelConfig& c, const torch::TensorOptions& opt) {
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, opt));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) {
    layer_list.push_back(DecoderLayer(c, i, opt));
    layers->push_back(layer_list.back());
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, c.norm_one_plus, opt));
}

// ---------------------------------------------------------------- causal LM

CausalLMImpl::CausalLMImpl(const ModelConfig& c, const torch::TensorOptions& opt)
    : cfg_(c), dtype_(opt.dtype().toScalarType()), device_(opt.device()) {
  model = register_module("model", Backbone(cfg_, opt));
  if (!cfg_.tie_word_embeddings) lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size, false, opt));
}

const Tensor& CausalLMImpl::lm_head_weight() const {
  return cfg_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

Tensor CausalLMImpl::embed(const Tensor& ids) {
  LEAP_CHECK(ids.dim() == 2, "input_ids must be [batch, seq], got %lld dims", (long long)ids.dim());
  Tensor h = model->embed_tokens(ids.to(device_));
  if (cfg_.embed_scale)  // Gemma3TextScaledWordEmbedding: × sqrt(H), the scale rounded to the weight dtype
    h = h *
        torch::scalar_tensor(std::sqrt(static_cast<double>(cfg_.hidden_size)), torch::kFloat32).to(dtype_).to(device_);
  return h;
}

std::pair<RopeTables, RopeTables> CausalLMImpl::rope(int64_t S) const {
  RopeTables g = rope_tables(cfg_.rope_global, cfg_.head_dim, S, dtype_, device_);
  bool any_sliding = false;
  for (bool b : cfg_.layer_is_sliding) any_sliding |= b;
  RopeTables l = any_sliding ? rope_tables(cfg_.rope_local, cfg_.head_dim, S, dtype_, device_) : g;
  return {g, l};
}

Tensor CausalLMImpl::run_layer(int64_t i, const Tensor& h, const std::pair<RopeTables, RopeTables>& r) {
  DecoderLayer& layer = model->layer_list[static_cast<size_t>(i)];
  return layer(h, layer->sliding ? r.second : r.first);
}

Tensor CausalLMImpl::head(const Tensor& h) {
  Tensor x = model->norm(h);
  Tensor logits = torch::nn::functional::linear(x, lm_head_weight());
  if (cfg_.final_logit_softcapping) {
    const double cap = *cfg_.final_logit_softcapping;
    logits = torch::tanh(logits / cap) * cap;
  }
  return logits;
}

Tensor CausalLMImpl::hidden(const Tensor& ids) {
  auto r = rope(ids.size(1));
  Tensor h = embed(ids);
  for (int64_t i = 0; i < cfg_.num_layers; ++i) h = run_layer(i, h, r);
  return h;
}

Tensor CausalLMImpl::hidden(const TokenTree& tree) {
  const Tensor ids = tree.ids.to(device_), pos = tree.positions.to(device_);  // [B, S]
  LEAP_CHECK(ids.dim() == 2 && pos.sizes() == ids.sizes() && tree.visible.dim() == 3 &&
                 tree.visible.size(0) == ids.size(0) && tree.visible.size(1) == ids.size(1) &&
                 tree.visible.size(2) == ids.size(1),
             "token tree: ids, positions [B, S] and visible [B, S, S] disagree");
  const int64_t B = ids.size(0), S = ids.size(1), D = cfg_.head_dim;
  auto r = rope(pos.max().item<int64_t>() + 1);
  auto at = [&](const RopeTables& t) {  // [P, D] → [B, 1, S, D] at each token's position
    return RopeTables{t.cos.index_select(0, pos.reshape({-1})).view({B, 1, S, D}),
                      t.sin.index_select(0, pos.reshape({-1})).view({B, 1, S, D})};
  };
  const RopeTables global = at(r.first), local = at(r.second);
  const Tensor visible = tree.visible.to(device_).unsqueeze(1);  // [B, 1, S, S]
  // sliding layers: also i − j < W, in positions (a visible j is an ancestor: pos_j ≤ pos_i)
  Tensor windowed;
  if (std::find(cfg_.layer_is_sliding.begin(), cfg_.layer_is_sliding.end(), true) != cfg_.layer_is_sliding.end())
    windowed = visible.logical_and((pos.unsqueeze(2) - pos.unsqueeze(1)).lt(cfg_.sliding_window).unsqueeze(1));
  Tensor h = embed(ids);
  for (int64_t i = 0; i < cfg_.num_layers; ++i) {
    DecoderLayer& layer = model->layer_list[static_cast<size_t>(i)];
    h = layer->sliding ? layer(h, local, windowed) : layer(h, global, visible);
  }
  return h;
}

Tensor CausalLMImpl::forward(const Tensor& ids) {
  return head(hidden(ids));
}

std::vector<CausalLMImpl::NamedLinear> CausalLMImpl::block_linears(int64_t i) const {
  LEAP_CHECK(i >= 0 && i < cfg_.num_layers, "block %lld outside [0, %lld)", (long long)i, (long long)cfg_.num_layers);
  const auto& L = model->layer_list[static_cast<size_t>(i)];
  const std::string p = "model.layers." + std::to_string(i) + ".";
  return {{p + "self_attn.q_proj", i, "q_proj", L->self_attn->q_proj},
          {p + "self_attn.k_proj", i, "k_proj", L->self_attn->k_proj},
          {p + "self_attn.v_proj", i, "v_proj", L->self_attn->v_proj},
          {p + "self_attn.o_proj", i, "o_proj", L->self_attn->o_proj},
          {p + "mlp.gate_proj", i, "gate_proj", L->mlp->gate_proj},
          {p + "mlp.up_proj", i, "up_proj", L->mlp->up_proj},
          {p + "mlp.down_proj", i, "down_proj", L->mlp->down_proj}};
}

std::vector<CausalLMImpl::NamedLinear> CausalLMImpl::decoder_linears() const {
  std::vector<NamedLinear> out;
  for (int64_t i = 0; i < cfg_.num_layers; ++i)
    for (auto& l : block_linears(i)) out.push_back(std::move(l));
  return out;
}

// ---------------------------------------------------------------- loading

torch::Dtype parse_dtype(const std::string& s) {
  if (s == "float32" || s == "fp32" || s == "float") return torch::kFloat32;
  if (s == "bfloat16" || s == "bf16") return torch::kBFloat16;
  if (s == "float16" || s == "fp16" || s == "half") return torch::kFloat16;
  fail("unsupported dtype \"%s\" (float32, bfloat16 or float16)", s.c_str());
}

const char* dtype_string(torch::Dtype d) {
  switch (d) {
    case torch::kFloat32:
      return "float32";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    case torch::kFloat64:
      return "float64";
    default:
      return "other";
  }
}

// Maps a checkpoint key to the module's name for it; "" means "ignore this key".
std::string canonical_key(const std::string& key, const ModelConfig& c) {
  auto starts = [&](const char* p) { return key.rfind(p, 0) == 0; };
  if (key.size() >= 22 && key.compare(key.size() - 22, 22, "rotary_emb.inv_freq") == 0) return "";
  if (key.find("rotary_emb.inv_freq") != std::string::npos) return "";
  if (c.multimodal) {
    if (starts("language_model.model.")) return "model." + key.substr(21);
    if (starts("language_model.lm_head.")) return c.tie_word_embeddings ? "" : "lm_head." + key.substr(23);
    if (starts("model.language_model.")) return "model." + key.substr(21);
    if (starts("vision_tower.") || starts("multi_modal_projector.") || starts("model.vision_tower.") ||
        starts("model.multi_modal_projector."))
      return "";
  }
  if (c.tie_word_embeddings && key == "lm_head.weight") return "";  // HF ties it to embed_tokens
  return key;
}

CausalLM load_model(const std::string& dir, const LoadOptions& opt) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  ModelConfig cfg = load_hf_config(cfg_path);
  torch::NoGradGuard no_grad;
  auto topt = torch::TensorOptions().dtype(opt.dtype).device(opt.device);
  CausalLM m(cfg, topt);

  st::Reader ckpt(dir);
  std::map<std::string, std::string> by_name;  // module name → checkpoint key
  for (const std::string& key : ckpt.names()) {
    std::string name = canonical_key(key, cfg);
    if (name.empty()) continue;
    auto [it, ok] = by_name.emplace(name, key);
    if (!ok)
      fail("%s: keys \"%s\" and \"%s\" both map to parameter \"%s\"", dir.c_str(), it->second.c_str(), key.c_str(),
           name.c_str());
  }
  std::vector<std::string> missing;
  std::set<std::string> used;
  for (auto& p : m->named_parameters(/*recurse=*/true)) {
    auto it = by_name.find(p.key());
    if (it == by_name.end()) {
      missing.push_back(p.key());
      continue;
    }
    const st::TensorInfo& ti = ckpt.info(it->second);
    Tensor& dst = p.value();
    if (ti.shape != dst.sizes().vec())
      fail("%s: tensor \"%s\" has shape %s but the model (from config.json) needs %s",
           ckpt.file_of(it->second).path().c_str(), it->second.c_str(), shape_str(ti.shape).c_str(),
           shape_str(dst.sizes().vec()).c_str());
    if (ti.dtype != st::DType::F32 && ti.dtype != st::DType::F16 && ti.dtype != st::DType::BF16 &&
        ti.dtype != st::DType::F64)
      fail("%s: tensor \"%s\" has dtype %s; weights must be floating point", ckpt.file_of(it->second).path().c_str(),
           it->second.c_str(), st::dtype_name(ti.dtype));
    Tensor src = read_tensor(ckpt, it->second);
    dst.copy_(src);
    if (!torch::isfinite(dst).all().item<bool>()) {  // NaN/Inf weights (or values the dtype cannot hold)
      const int64_t bad = (~torch::isfinite(dst)).sum().item<int64_t>();
      fail("%s: tensor \"%s\" has %lld non-finite value(s) (NaN or Inf) after loading as %s",
           ckpt.file_of(it->second).path().c_str(), it->second.c_str(), (long long)bad,
           std::string(c10::toString(dst.scalar_type())).c_str());
    }
    used.insert(p.key());
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 8; ++i) list += "\n  - " + missing[i];
    if (missing.size() > 8) list += strformat("\n  ... and %zu more", missing.size() - 8);
    fail("%s: checkpoint is missing %zu parameter(s) the %s config needs:%s", dir.c_str(), missing.size(),
         cfg.model_type.c_str(), list.c_str());
  }
  std::vector<std::string> extra;
  for (const auto& kv : by_name)
    if (!used.count(kv.first)) extra.push_back(kv.second);
  if (!extra.empty()) {
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 8; ++i) list += "\n  - " + extra[i];
    if (extra.size() > 8) list += strformat("\n  ... and %zu more", extra.size() - 8);
    fail("%s: checkpoint has %zu unexpected tensor(s) for a %s model with this config:%s", dir.c_str(), extra.size(),
         cfg.model_type.c_str(), list.c_str());
  }
  return m;
}

}  // namespace leap
