// Parity of leap's forward pass with HF transformers on tiny random checkpoints that
// transformers itself generated (tests/python/make_model_fixtures.py): float32 logits within
// 1e-4 absolute, bf16 compute close to HF's bf16 compute, sharded and bf16 files.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/fs_util.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "model/model.h"
#include "test_util.h"

namespace leap {
namespace {

class ModelParity : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return test::fixtures_dir() + "/models/" + GetParam(); }
  torch::Tensor ids() const {
    auto j = nlohmann::json::parse(read_file(dir() + "/input_ids.json"));
    std::vector<int64_t> flat;
    for (auto& row : j)
      for (auto& v : row) flat.push_back(v.get<int64_t>());
    return torch::tensor(flat).view({int64_t(j.size()), -1});
  }
  torch::Tensor ref(const std::string& file) const {
    st::Reader c(dir() + "/" + file);
    return read_tensor(c, "logits").clone();
  }
};

TEST_P(ModelParity, Float32LogitsMatchTransformers) {
  CausalLM m = load_model(dir(), {torch::kFloat32, torch::kCPU});
  torch::NoGradGuard ng;
  torch::Tensor logits = m->forward(ids()).to(torch::kFloat32);
  torch::Tensor r = ref("ref_logits.safetensors");
  ASSERT_GT(r.std().item<double>(), 0.1) << "reference logits carry no signal";
  auto res = test::allclose(logits, r, 1e-4);
  EXPECT_TRUE(res);
  RecordProperty("max_abs_diff", res.message());
  std::cout << "[ " << GetParam() << " float32 ] " << res.message() << "\n";
}

TEST_P(ModelParity, BFloat16LogitsCloseToTransformersBFloat16) {
  CausalLM m = load_model(dir(), {torch::kBFloat16, torch::kCPU});
  torch::NoGradGuard ng;
  torch::Tensor logits = m->forward(ids()).to(torch::kFloat32);
  // Same ops in the same order as HF: bf16 rounding differences stay at the level of one bf16 ulp
  // of the logits (~4e-3 at |logit| ~ 1).
  auto res = test::allclose(logits, ref("ref_logits_bf16.safetensors"), 2e-2);
  EXPECT_TRUE(res);
  std::cout << "[ " << GetParam() << " bfloat16 ] " << res.message() << "\n";
}

TEST_P(ModelParity, ParameterNamesAreCheckpointKeys) {
  CausalLM m = load_model(dir(), {torch::kFloat32, torch::kCPU});
  st::Reader c(dir());
  std::set<std::string> keys;
  for (const auto& k : c.names())
    if (k.find("vision_tower") == std::string::npos && k.find("multi_modal_projector") == std::string::npos)
      keys.insert(k);
  std::set<std::string> names;
  for (auto& p : m->named_parameters()) names.insert(p.key());
  if (m->config().multimodal) {
    std::set<std::string> mapped;
    for (const auto& k : keys) mapped.insert(k.rfind("language_model.", 0) == 0 ? k.substr(15) : k);
    keys = mapped;
  }
  EXPECT_EQ(names, keys);
  for (auto& p : m->parameters()) EXPECT_FALSE(p.requires_grad());
}

INSTANTIATE_TEST_SUITE_P(Families, ModelParity,
                         ::testing::Values("llama", "llama_untied_bias", "llama_sharded", "llama_bf16", "qwen2",
                                           "qwen2_bf16_sharded", "gemma3", "gemma3_scaled_softcap",
                                           "gemma3_multimodal"));

}  // namespace
}  // namespace leap
