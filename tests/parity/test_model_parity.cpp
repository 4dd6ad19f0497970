// Parity of leap's forward pass with HF transformers on tiny random checkpoints that
// transformers itself generated (tests/python/make_model_fixtures.py): float32 logits within
// 1e-4 absolute, bf16 compute close to HF's bf16 compute, sharded and bf16 files; token-tree rows
// (shared prefixes packed once) give every sequence the logits it has alone; the chunked losses
// (no logits tensor) equal the full-logits cross-entropy and its gradient.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/fs_util.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "model/lm_loss.h"
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

// Sequences sharing prefixes (one a prefix of another, one with a root of its own) packed into a
// token tree: each sequence's logits along its path equal its own causal forward. The Gemma-3
// fixtures are longer than their sliding window (8 < 24) and one soft-caps attention logits.
TEST_P(ModelParity, TokenTreeRowsEqualTheirSequences) {
  CausalLM m = load_model(dir(), {torch::kFloat32, torch::kCPU});
  torch::NoGradGuard ng;
  torch::Tensor x = ids();
  auto row = [&](int64_t r, int64_t from, int64_t to) {
    torch::Tensor t = x[r].slice(0, from, to).contiguous();
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  };
  auto cat = [](std::vector<int64_t> a, const std::vector<int64_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const int64_t L = x.size(1);
  std::vector<std::vector<std::vector<int64_t>>> rows = {
      {row(0, 0, L), cat(row(0, 0, L / 2), row(1, L / 2, L)), cat(row(0, 0, L / 2), row(1, L / 2, L - 4)),
       cat(row(0, 0, 5), row(1, 0, 10))},
      {row(1, 0, L)}};
  // insert each row's sequences into a trie: node = (token, parent, depth); paths[row][seq] = its nodes
  std::vector<std::vector<int64_t>> tok(2), parent(2), depth(2);
  std::vector<std::vector<std::vector<int64_t>>> paths(2);
  for (size_t r = 0; r < rows.size(); ++r)
    for (const auto& seq : rows[r]) {
      std::vector<int64_t> path;
      int64_t at = -1;
      for (int64_t t : seq) {
        int64_t next = -1;
        for (size_t n = 0; n < tok[r].size(); ++n)
          if (parent[r][n] == at && tok[r][n] == t) next = int64_t(n);
        if (next < 0) {
          next = int64_t(tok[r].size());
          tok[r].push_back(t);
          parent[r].push_back(at);
          depth[r].push_back(at < 0 ? 0 : depth[r][size_t(at)] + 1);
        }
        path.push_back(at = next);
      }
      paths[r].push_back(path);
    }
  const int64_t S = int64_t(tok[0].size());
  ASSERT_LT(S, 4 * L) << "the first row shares no prefix";
  TokenTree tree{torch::zeros({2, S}, torch::kInt64), torch::zeros({2, S}, torch::kInt64),
                 torch::zeros({2, S, S}, torch::kBool)};
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t n = 0; n < S; ++n) {
      if (n >= int64_t(tok[size_t(r)].size())) {  // padding sees itself
        tree.visible[r][n][n] = true;
        continue;
      }
      tree.ids[r][n] = tok[size_t(r)][size_t(n)];
      tree.positions[r][n] = depth[size_t(r)][size_t(n)];
      for (int64_t a = n; a >= 0; a = parent[size_t(r)][size_t(a)]) tree.visible[r][n][a] = true;
    }
  torch::Tensor packed = m->head(m->hidden(tree)).to(torch::kFloat32);  // [2, S, V]
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t k = 0; k < rows[r].size(); ++k) {
      torch::Tensor alone = m->forward(torch::tensor(rows[r][k]).unsqueeze(0))[0].to(torch::kFloat32);  // [len, V]
      torch::Tensor at = packed[int64_t(r)].index_select(0, torch::tensor(paths[r][k]));
      auto res = test::allclose(at, alone, 1e-4);
      EXPECT_TRUE(res) << "row " << r << " sequence " << k;
      std::cout << "[ " << GetParam() << " tree row " << r << " seq " << k << " ] " << res.message() << "\n";
    }
}

// next_token_cross_entropy / next_token_nll, in chunks of 7 positions (not dividing the 2 × 23
// positions), against cross_entropy on the full float32 logits: loss, per-position NLL and the
// gradient with respect to the hidden states (Gemma's final soft-cap included).
TEST_P(ModelParity, ChunkedLossesEqualTheFullLogitsPath) {
  CausalLM m = load_model(dir(), {torch::kFloat32, torch::kCPU});
  torch::Tensor x = ids();
  const int64_t T = x.size(1) - 1;
  torch::Tensor h0, tgt = x.slice(1, 1);
  {
    torch::NoGradGuard ng;
    h0 = m->hidden(x).slice(1, 0, T).contiguous();  // [2, T, H]
  }
  torch::Tensor h_ref = h0.clone().requires_grad_(true), h = h0.clone().requires_grad_(true);
  torch::Tensor logits = m->head(h_ref).to(torch::kFloat32);
  torch::Tensor ce_ref = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), tgt.reshape({-1}));
  ce_ref.backward();
  torch::Tensor ce = next_token_cross_entropy(m, h, tgt, /*chunk=*/7);
  (ce * 3.0).backward();  // the gradient scales with the incoming one
  const double scale = std::max(1.0, std::abs(ce_ref.item<double>()));
  EXPECT_NEAR(ce.item<double>(), ce_ref.item<double>(), 1e-5 * scale);
  const double gmax = h_ref.grad().abs().max().item<double>();
  ASSERT_GT(gmax, 0);
  auto res = test::allclose(h.grad(), 3.0 * h_ref.grad(), 3e-5 * gmax);
  EXPECT_TRUE(res) << "gradient";
  torch::Tensor nll_ref;
  {
    torch::NoGradGuard ng;
    nll_ref = -torch::log_softmax(logits, -1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1);
  }
  auto nres = test::allclose(next_token_nll(m, h0, tgt, 7), nll_ref, 1e-5 * scale);
  EXPECT_TRUE(nres) << "nll";
  std::cout << "[ " << GetParam() << " chunked CE ] loss " << ce.item<double>() << " vs " << ce_ref.item<double>()
            << "; gradient " << res.message() << "; nll " << nres.message() << "\n";
}

INSTANTIATE_TEST_SUITE_P(Families, ModelParity,
                         ::testing::Values("llama", "llama_untied_bias", "llama_sharded", "llama_bf16", "qwen2",
                                           "qwen2_bf16_sharded", "gemma3", "gemma3_scaled_softcap",
                                           "gemma3_multimodal"));

}  // namespace
}  // namespace leap
