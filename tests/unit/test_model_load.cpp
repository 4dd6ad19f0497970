// Loading is a name match: missing, unexpected and mis-shaped keys are errors that name them;
// the --model resolver finds folders, short names and the HF cache, and says where it looked.
#include <cstdlib>
#include <filesystem>

#include "base/error.h"
#include "base/fs_util.h"
#include "io/model_path.h"
#include "io/tensor_io.h"
#include "model/model.h"
#include "test_util.h"

namespace leap {
namespace {
namespace fs = std::filesystem;

const char* kCfg = R"({"model_type":"llama","hidden_size":16,"intermediate_size":32,"num_hidden_layers":1,
  "num_attention_heads":2,"num_key_value_heads":1,"vocab_size":50,"tie_word_embeddings":false})";

std::vector<std::pair<std::string, torch::Tensor>> random_state() {
  ModelConfig c = parse_hf_config(kCfg, "x");
  CausalLM m(c, torch::TensorOptions().dtype(torch::kFloat32));
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : m->named_parameters()) out.emplace_back(p.key(), torch::randn(p.value().sizes()));
  return out;
}

std::string write_model(const std::string& name, std::vector<std::pair<std::string, torch::Tensor>> state) {
  std::string d = test::temp_dir(name);
  write_file_atomic(d + "/config.json", kCfg);
  write_safetensors(d + "/model.safetensors", state);
  return d;
}

std::string load_error(const std::string& dir) {
  try {
    load_model(dir, {});
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(ModelLoad, LoadsExactValues) {
  auto state = random_state();
  std::string d = write_model("load_ok", state);
  CausalLM m = load_model(d, {});
  auto params = m->named_parameters();
  for (auto& [k, v] : state) EXPECT_TRUE(torch::equal(params[k], v)) << k;
}

TEST(ModelLoad, MissingKey) {
  auto state = random_state();
  state.erase(state.begin() + 3);
  std::string name = random_state()[3].first;
  std::string e = load_error(write_model("load_missing", state));
  EXPECT_NE(e.find("missing 1 parameter"), std::string::npos) << e;
  EXPECT_NE(e.find(name), std::string::npos) << e;
}

TEST(ModelLoad, UnexpectedKey) {
  auto state = random_state();
  state.emplace_back("model.layers.7.mlp.up_proj.weight", torch::zeros({2, 2}));
  std::string e = load_error(write_model("load_extra", state));
  EXPECT_NE(e.find("unexpected tensor"), std::string::npos) << e;
  EXPECT_NE(e.find("model.layers.7.mlp.up_proj.weight"), std::string::npos) << e;
}

TEST(ModelLoad, WrongShape) {
  auto state = random_state();
  for (auto& [k, v] : state)
    if (k == "model.norm.weight") v = torch::ones({17});
  std::string e = load_error(write_model("load_shape", state));
  EXPECT_NE(e.find("\"model.norm.weight\" has shape [17]"), std::string::npos) << e;
}

TEST(ModelLoad, IntegerWeightsRejected) {
  auto state = random_state();
  for (auto& [k, v] : state)
    if (k == "model.norm.weight") v = torch::ones({16}, torch::kInt32);
  EXPECT_NE(load_error(write_model("load_int", state)).find("must be floating point"), std::string::npos);
}

TEST(ModelPath, ShortNameFolderAndErrors) {
  ResolvedModel r = resolve_model("stories260k");
  EXPECT_TRUE(file_exists(r.dir + "/config.json"));
  EXPECT_EQ(r.short_name, "stories260k");
  EXPECT_EQ(resolve_model(r.dir).dir, r.dir);
  try {
    resolve_model("no-such-org/no-such-model");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("huggingface-cli download no-such-org/no-such-model"), std::string::npos) << m;
    EXPECT_NE(m.find("models--no-such-org--no-such-model"), std::string::npos) << m;
  }
  try {
    resolve_model("llama-3.1-8b");  // short name → hf id, absent from the cache here
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("huggingface-cli download meta-llama/Llama-3.1-8B"), std::string::npos);
  }
}

TEST(ModelPath, FindsHfCacheSnapshot) {
  std::string home = test::temp_dir("hfhome");
  fs::path repo = fs::path(home) / "hub" / "models--acme--tiny";
  fs::create_directories(repo / "snapshots" / "abc123");
  fs::create_directories(repo / "refs");
  write_file_atomic((repo / "refs" / "main").string(), "abc123\n");
  write_file_atomic((repo / "snapshots" / "abc123" / "config.json").string(), kCfg);
  const char* old = std::getenv("HF_HOME");
  std::string saved = old ? old : "";
  setenv("HF_HOME", home.c_str(), 1);
  ResolvedModel r = resolve_model("acme/tiny");
  if (old)
    setenv("HF_HOME", saved.c_str(), 1);
  else
    unsetenv("HF_HOME");
  EXPECT_EQ(fs::path(r.dir), repo / "snapshots" / "abc123");
  EXPECT_EQ(r.hf_id, "acme/tiny");
}

}  // namespace
}  // namespace leap
