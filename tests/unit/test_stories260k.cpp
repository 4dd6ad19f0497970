// The real pretrained stories260K (the embedded default, data/stories260k): leap's logits after
// BOS and its 40-token greedy continuation equal the oracle values in
// shared/data/stories260K/PROVENANCE.md (also recorded in data/stories260k/PROVENANCE.md).
#include "io/model_path.h"
#include "model/model.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace leap {
namespace {

CausalLM stories() {
  static CausalLM m = load_model(resolve_model("stories260k").dir, {torch::kFloat32, torch::kCPU});
  return m;
}

TEST(Stories260k, LogitsAfterBosMatchOracle) {
  torch::NoGradGuard ng;
  torch::Tensor l = stories()->forward(torch::tensor({int64_t(1)}).view({1, 1}))[0][0];
  const double first4[] = {-6.22291, 8.40434, -6.22374, -6.22254};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(l[i].item<double>(), first4[i], 1e-4) << "logit " << i;
  auto [vals, idx] = l.topk(5);
  const int64_t top_ids[] = {403, 385, 410, 317, 407};
  const double top_vals[] = {17.0235, 15.4062, 13.1083, 12.7692, 12.4181};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(idx[i].item<int64_t>(), top_ids[i]);
    EXPECT_NEAR(vals[i].item<double>(), top_vals[i], 1e-4);
  }
}

TEST(Stories260k, GreedyContinuationMatchesOracle) {
  torch::NoGradGuard ng;
  const std::vector<int64_t> oracle = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                       426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282,
                                       295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352};
  std::vector<int64_t> seq = {1};
  for (size_t step = 0; step < oracle.size(); ++step) {
    torch::Tensor ids = torch::tensor(seq).view({1, -1});
    torch::Tensor logits = stories()->forward(ids)[0][-1];
    seq.push_back(logits.argmax().item<int64_t>());
  }
  EXPECT_EQ(std::vector<int64_t>(seq.begin() + 1, seq.end()), oracle);
}

TEST(Stories260k, TokenizerRoundTrip) {
  auto tok = load_tokenizer(resolve_model("stories260k").dir);
  auto ids = tok->encode("Once upon a time, there was a little girl.");
  std::vector<int64_t> want = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 426};
  EXPECT_EQ(ids, want);
  EXPECT_EQ(tok->decode(std::vector<int64_t>(ids.begin() + 1, ids.end())),
            "Once upon a time, there was a little girl.");
  EXPECT_TRUE(tok->adds_bos());
}

}  // namespace
}  // namespace leap
