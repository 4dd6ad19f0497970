// config.json parsing: families, defaults, rope formats (classic and transformers 5), errors.
#include "base/error.h"
#include "io/hf_config.h"
#include "test_util.h"

namespace leap {
namespace {

std::string err(const std::string& json) {
  try {
    parse_hf_config(json, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

const char* kLlama = R"({"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,
  "num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"rope_theta":500000.0,
  "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
  "tie_word_embeddings":true,"some_unknown_key":[1,2,3]})";

TEST(HfConfig, LlamaWithLlama3Rope) {
  ModelConfig c = parse_hf_config(kLlama, "cfg.json");
  EXPECT_EQ(c.family, Family::llama);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.rope_global.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_global.theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.rope_global.factor, 32.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_NEAR(c.attn_scale, 0.25, 1e-12);
}

TEST(HfConfig, Qwen2HasQkvBias) {
  ModelConfig c = parse_hf_config(R"({"model_type":"qwen2","hidden_size":64,"intermediate_size":128,
    "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100})",
                                  "x");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  for (bool s : c.layer_is_sliding) EXPECT_FALSE(s);
}

TEST(HfConfig, Gemma3LayerPatternAndRopes) {
  ModelConfig c = parse_hf_config(R"({"model_type":"gemma3_text","hidden_size":64,"intermediate_size":128,
    "num_hidden_layers":6,"num_attention_heads":4,"num_key_value_heads":1,"head_dim":32,"vocab_size":100,
    "query_pre_attn_scalar":256,"sliding_window":512,"sliding_window_pattern":3,"rope_theta":1000000.0,
    "rope_local_base_freq":10000.0,"rope_scaling":{"rope_type":"linear","factor":8.0}})",
                                  "x");
  EXPECT_EQ(c.family, Family::gemma3);
  EXPECT_EQ(c.layer_is_sliding, (std::vector<bool>{true, true, false, true, true, false}));
  EXPECT_EQ(c.rope_global.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_global.theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_local.theta, 1e4);
  EXPECT_EQ(c.rope_local.type, "default");
  EXPECT_NEAR(c.attn_scale, 1.0 / 16.0, 1e-12);
  EXPECT_TRUE(c.norm_one_plus && c.sandwich_norms && c.qk_norm && c.embed_scale && c.tie_word_embeddings);
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
}

TEST(HfConfig, Transformers5RopeParameters) {
  ModelConfig c = parse_hf_config(R"({"model_type":"gemma3_text","hidden_size":64,"intermediate_size":128,
    "num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"head_dim":16,
    "layer_types":["sliding_attention","full_attention"],"sliding_window":4,
    "rope_parameters":{"full_attention":{"rope_type":"linear","factor":8.0,"rope_theta":1e6},
                       "sliding_attention":{"rope_type":"default","rope_theta":1e4}}})",
                                  "x");
  EXPECT_EQ(c.layer_is_sliding, (std::vector<bool>{true, false}));
  EXPECT_EQ(c.rope_global.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_local.theta, 1e4);
  ModelConfig l = parse_hf_config(R"({"model_type":"llama","hidden_size":64,"intermediate_size":128,
    "num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,
    "rope_parameters":{"rope_type":"default","rope_theta":123.0}})",
                                  "x");
  EXPECT_DOUBLE_EQ(l.rope_global.theta, 123.0);
}

TEST(HfConfig, MultimodalGemma3UsesTextConfig) {
  ModelConfig c = parse_hf_config(R"({"model_type":"gemma3","text_config":{"model_type":"gemma3_text",
    "hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100},
    "vision_config":{"hidden_size":32}})",
                                  "x");
  EXPECT_TRUE(c.multimodal);
  EXPECT_EQ(c.family, Family::gemma3);
  EXPECT_EQ(c.hidden_size, 64);
}

TEST(HfConfig, Errors) {
  EXPECT_NE(err("{").find("cfg.json: not valid JSON"), std::string::npos);
  EXPECT_NE(err("[]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(err(R"({"hidden_size":1})").find("missing required key \"model_type\""), std::string::npos);
  EXPECT_NE(err(R"({"model_type":"gpt2"})").find("unsupported model_type \"gpt2\""), std::string::npos);
  EXPECT_NE(err(R"({"model_type":"llama","hidden_size":64})").find("missing required key \"intermediate_size\""),
            std::string::npos);
  std::string base =
      R"("model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"vocab_size":100)";
  EXPECT_NE(err("{" + base + "}").find("missing required key \"num_attention_heads\""), std::string::npos);
  EXPECT_NE(err("{" + base + R"(,"num_attention_heads":4,"num_key_value_heads":3})").find("multiple of"),
            std::string::npos);
  EXPECT_NE(err("{" + base + R"(,"num_attention_heads":4,"hidden_size":-1})").find("positive integer"),
            std::string::npos);
  EXPECT_NE(err("{" + base + R"(,"num_attention_heads":4,"rope_scaling":{"rope_type":"yarn","factor":2}})")
                .find("unsupported rope_scaling type \"yarn\""),
            std::string::npos);
  EXPECT_NE(err("{" + base + R"(,"num_attention_heads":4,"rope_scaling":{"rope_type":"llama3","factor":2}})")
                .find("needs \"low_freq_factor\""),
            std::string::npos);
  EXPECT_NE(err("{" + base + R"(,"num_attention_heads":4,"hidden_act":"relu2"})").find("unsupported activation"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type":"gemma3"})").find("needs a \"text_config\""), std::string::npos);
  // a layer count that would size an allocation (the fuzzer's 2222222224) is refused before any
  EXPECT_NE(err(R"({"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2222222224,)"
                R"("num_attention_heads":4,"vocab_size":100})")
                .find("\"num_hidden_layers\" = 2222222224 is more than 65536"),
            std::string::npos);
}

}  // namespace
}  // namespace leap
