// OWL block sparsities (--owl_m, --owl_lambda) against llm-compressor's sparsity_profile="owl" on
// stories260k: tests/python/make_owl_fixture.py computes them on HF transformers with a
// transcription of SparsityModifierBase._infer_owl_layer_sparsity, checked against llm-compressor
// itself where it is installed. Then the allocation drives Wanda block by block, and LEAP's prior.
#include "base/fs_util.h"
#include "cmd_prune.h"
#include "io/tensor_io.h"
#include "model/model.h"
#include "prune/owl.h"
#include "test_util.h"

namespace leap {
namespace {

TEST(Owl, BlockSparsitiesEqualLlmCompressors) {
  const std::string fx = test::fixtures_dir() + "/owl";
  const auto ref = nlohmann::json::parse(read_file(fx + "/owl.json"));
  st::Reader ids_file(fx + "/calib_ids.safetensors");
  const torch::Tensor ids = read_tensor(ids_file, "calib_ids").clone();
  CausalLM m = load_model(test::source_dir() + "/data/stories260k", {});
  for (const auto& c : ref["cases"]) {
    for (int64_t batch : {1, 3}) {  // the statistic is per sequence: any batching gives it
      const OwlAllocation a = owl_allocation(m, ids, c["sparsity"], c["owl_m"], c["owl_lambda"], batch);
      const auto want_pct = c["outlier_pct"].get<std::vector<double>>();
      const auto want_s = c["block_sparsity"].get<std::vector<double>>();
      ASSERT_EQ(a.block_sparsity.size(), want_s.size());
      double max_pct = 0, max_s = 0, mean = 0;
      for (size_t i = 0; i < want_s.size(); ++i) {
        max_pct = std::max(max_pct, std::abs(a.outlier_pct[i] - want_pct[i]));
        max_s = std::max(max_s, std::abs(a.block_sparsity[i] - want_s[i]));
        mean += a.block_sparsity[i] / double(want_s.size());
        // D' spans [0, 2λ] and s_ℓ = s + mean D' − D'_ℓ: within s ± 2λ
        EXPECT_GE(a.block_sparsity[i], c["sparsity"].get<double>() - 2 * c["owl_lambda"].get<double>() - 1e-12);
        EXPECT_LE(a.block_sparsity[i], c["sparsity"].get<double>() + 2 * c["owl_lambda"].get<double>() + 1e-12);
      }
      // one weight more or less over a block's threshold moves its ratio by 100/#z ≈ 3e-3 %
      EXPECT_LE(max_pct, 0.01) << c.dump();
      EXPECT_LE(max_s, 1e-3) << c.dump();
      EXPECT_NEAR(mean, c["sparsity"].get<double>(), 1e-12);
      std::printf(
          "[ OWL M=%g lambda=%g s=%g batch %lld ] max |outlier %% diff| %.2g, max |sparsity diff| %.2g (vs %s)\n",
          c["owl_m"].get<double>(), c["owl_lambda"].get<double>(), c["sparsity"].get<double>(), (long long)batch,
          max_pct, max_s,
          ref["llmcompressor"].is_null() ? "the transcription" : ref["llmcompressor"].get<std::string>().c_str());
    }
  }
}

TEST(Owl, WandaPrunesEachBlockAtItsOwlSparsity) {
  const std::string d = test::temp_dir("owl_prune");
  PruneArgs p;
  p.model = "stories260k";
  p.method = "wanda";
  p.sparsity = 0.6;
  p.owl_m = 5;
  p.owl_lambda = 0.08;
  p.nsamples = 8;
  p.calib_seqlen = 128;
  p.given = {"nsamples", "calib_seqlen"};  // as typed: the preset does not override them
  p.output_path = d + "/report.json";
  run_prune(p);
  const auto r = nlohmann::json::parse(read_file(p.output_path));
  const auto s = r["owl"]["block_sparsity"].get<std::vector<double>>();
  ASSERT_EQ(s.size(), 5u);
  double lo = 1, hi = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    // Wanda keeps a per-row count: each row's sparsity is floor(cols · s) / cols
    EXPECT_NEAR(r["achieved_sparsity"]["per_layer"][i].get<double>(), s[i], 1.0 / 64) << "block " << i;
    lo = std::min(lo, s[i]), hi = std::max(hi, s[i]);
  }
  EXPECT_NEAR(hi - lo, 0.16, 1e-9);  // the allocation spans 2λ exactly (min → s−λ+…, max → +2λ)
  EXPECT_NEAR(r["achieved_sparsity"]["overall"].get<double>(), 0.6, 0.01);

  // LEAP: the OWL allocation is its Wanda prior's; the trained mask keeps the global budget exactly
  PruneArgs l = p;
  l.method = "leap";
  l.leap.steps = 2;
  l.leap.global_batch = 2;
  l.leap.micro_batch = 1;
  l.leap.seqlen = 64;
  l.given.insert({"steps", "global_batch", "micro_batch", "seqlen"});
  l.output_path = d + "/leap.json";
  run_prune(l);
  const auto lr = nlohmann::json::parse(read_file(l.output_path));
  EXPECT_EQ(lr["owl"]["block_sparsity"], r["owl"]["block_sparsity"]);
  EXPECT_NEAR(lr["achieved_sparsity"]["overall"].get<double>(), 0.6, 1e-5);

  PruneArgs bad = p;
  bad.owl_lambda = 0;
  EXPECT_NE(test::error_of([&] { run_prune(bad); }).find("--owl_m and --owl_lambda go together"), std::string::npos);
  bad.owl_lambda = 0.3;  // 0.6 + 2·0.3 > 1
  EXPECT_NE(test::error_of([&] { run_prune(bad); }).find("must lie in [0, 1]"), std::string::npos);
  bad.owl_lambda = 0.08;
  bad.sparsity_type = "2:4";
  bad.sparsity = 0.5;
  const std::string nm = test::error_of([&] { run_prune(bad); });
  EXPECT_NE(nm.find("N:M fixes every block's"), std::string::npos) << nm;
}

}  // namespace
}  // namespace leap
