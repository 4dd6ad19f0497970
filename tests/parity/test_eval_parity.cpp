// leap eval against lm-evaluation-harness itself (tests/python/make_lmeval_fixtures.py runs
// lm-eval 0.4.13's real task definitions on the same local files): per-document log-likelihoods
// within 1e-4, identical predictions and accuracies, for every task, on stories260k and on a tiny
// Llama-3-style model with a byte-level BPE tokenizer (whose MMLU prompts get truncated), and on the
// real SmolLM2-135M;
// scoring with shared prefixes (token-tree rows, the default) equal to one causal row per input on
// every task; plus perplexity of stories260k on the TinyStories eval split at seqlen 512 against HF.
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/fs_util.h"
#include "eval/evaluate.h"
#include "eval/ppl.h"
#include "eval/task_data.h"
#include "eval/tasks.h"
#include "model/model.h"
#include "test_util.h"

namespace leap {
namespace {
using json = nlohmann::json;

class EvalParity : public ::testing::TestWithParam<std::string> {};

TEST_P(EvalParity, PerDocumentLoglikelihoodsMatchLmEval) {
  json ref = json::parse(read_file(test::fixtures_dir() + "/lmeval/" + GetParam() + ".json"));
  std::string model_dir = ref["model_dir"];
  CausalLM m = load_model(model_dir, {torch::kFloat32, torch::kCPU});
  auto tok = load_tokenizer(model_dir);
  LoglikelihoodScorer scorer(m, *tok, m->config().max_position_embeddings, /*batch_size=*/8);
  const int64_t limit = ref["limit"], k = ref["num_fewshot"];
  double max_diff = 0;
  int64_t docs = 0;
  for (const auto& task : ref["tasks"]) {
    TaskData td = load_task(task.get<std::string>(), test::source_dir() + "/data", limit, k);
    TaskOutcome out = evaluate_task(scorer, td);
    // lm-eval keys MMLU samples by subject task; leap orders mmlu docs by subject
    std::map<std::string, std::vector<size_t>> idx;
    for (size_t i = 0; i < td.docs.size(); ++i)
      idx[td.docs[i].subject.empty() ? task.get<std::string>() : "mmlu_" + td.docs[i].subject].push_back(i);
    for (const auto& [name, ours] : idx) {
      ASSERT_TRUE(ref["samples"].contains(name)) << name;
      const auto& theirs = ref["samples"][name];
      ASSERT_EQ(theirs.size(), ours.size()) << name;
      for (size_t j = 0; j < ours.size(); ++j) {
        const auto& s = out.samples[ours[j]];
        const auto& r = theirs[j];
        ASSERT_EQ(r["lls"].size(), s["resps"].size()) << name << " doc " << j;
        for (size_t c = 0; c < r["lls"].size(); ++c) {
          double a = s["resps"][c][0].get<double>(), b = r["lls"][c].get<double>();
          max_diff = std::max(max_diff, std::abs(a - b));
          EXPECT_NEAR(a, b, 1e-4) << name << " doc " << j << " choice " << c;
          EXPECT_EQ(s["resps"][c][1].get<bool>(), r["greedy"][c].get<bool>()) << name << " doc " << j;
        }
        EXPECT_EQ(s["acc"].get<double>(), r["acc"].get<double>()) << name << " doc " << j;
        if (!r["acc_norm"].is_null()) {
          EXPECT_EQ(s["acc_norm"].get<double>(), r["acc_norm"].get<double>()) << name;
        }
        ++docs;
      }
    }
    // aggregated accuracy as lm-eval reports it
    std::string key = task.get<std::string>();
    if (key != "mmlu") {
      EXPECT_NEAR(out.metrics["acc,none"].get<double>(), ref["results"][key]["acc,none"].get<double>(), 1e-12) << key;
    }
  }
  std::cout << "[ " << GetParam() << " ] " << docs << " documents, max |ll diff| vs lm-eval = " << max_diff << "\n";
  EXPECT_GT(docs, 20);
}

INSTANTIATE_TEST_SUITE_P(Runs, EvalParity,
                         ::testing::Values("stories260k", "stories260k_mmlu_2shot", "tiny_llama3", "smollm2"));

// Token-tree rows (batch sizes 1 and 5) against one causal row per input (lm-eval's computation),
// on every task of each run: the same log-likelihoods within 1e-4 and the same greedy flags,
// while the model runs fewer tokens.
class SharedPrefixes : public ::testing::TestWithParam<std::string> {};

TEST_P(SharedPrefixes, LoglikelihoodsEqualThePlainPath) {
  json ref = json::parse(read_file(test::fixtures_dir() + "/lmeval/" + GetParam() + ".json"));
  std::string model_dir = ref["model_dir"];
  CausalLM m = load_model(model_dir, {torch::kFloat32, torch::kCPU});
  auto tok = load_tokenizer(model_dir);
  const int64_t limit = ref["limit"], k = ref["num_fewshot"], L = m->config().max_position_embeddings;
  LoglikelihoodScorer plain(m, *tok, L, 5, /*share_prefixes=*/false);
  std::map<std::string, TaskOutcome> ref_out;
  std::map<std::string, ScoreStats> ref_stats;
  for (const auto& task : ref["tasks"]) {
    TaskData td = load_task(task.get<std::string>(), test::source_dir() + "/data", limit, k);
    ref_out[task.get<std::string>()] = evaluate_task(plain, td);
    ref_stats[task.get<std::string>()] = plain.last_stats();
  }
  for (int64_t batch : {1, 5}) {
    LoglikelihoodScorer shared(m, *tok, L, batch, true);
    for (const auto& task : ref["tasks"]) {
      TaskData td = load_task(task.get<std::string>(), test::source_dir() + "/data", limit, k);
      const TaskOutcome& a = ref_out[task.get<std::string>()];
      const TaskOutcome b = evaluate_task(shared, td);
      const ScoreStats &pa = ref_stats[task.get<std::string>()], &sb = shared.last_stats();
      ASSERT_EQ(a.samples.size(), b.samples.size());
      double max_diff = 0;
      for (size_t d = 0; d < a.samples.size(); ++d)
        for (size_t c = 0; c < a.samples[d]["resps"].size(); ++c) {
          const auto &x = a.samples[d]["resps"][c], &y = b.samples[d]["resps"][c];
          max_diff = std::max(max_diff, std::abs(x[0].get<double>() - y[0].get<double>()));
          EXPECT_NEAR(x[0].get<double>(), y[0].get<double>(), 1e-4) << task << " doc " << d << " choice " << c;
          EXPECT_EQ(x[1].get<bool>(), y[1].get<bool>()) << task << " doc " << d << " choice " << c;
        }
      EXPECT_EQ(a.metrics["acc,none"], b.metrics["acc,none"]) << task;
      EXPECT_EQ(pa.input_tokens, sb.input_tokens) << task;
      EXPECT_LE(pa.model_tokens, pa.input_tokens) << task;
      EXPECT_LE(sb.model_tokens, pa.model_tokens) << task;
      static const std::set<std::string> choices_share_a_context = {"piqa", "arc_easy", "arc_challenge", "openbookqa",
                                                                    "hellaswag"};
      if (choices_share_a_context.count(task.get<std::string>())) {
        EXPECT_LT(sb.model_tokens, pa.model_tokens) << task << ": nothing shared";
      }
      std::cout << "[ " << GetParam() << " " << task.get<std::string>() << " batch " << batch << " ] " << pa.requests
                << " requests, " << pa.input_tokens << " input tokens; rows of one input ran " << pa.model_tokens
                << ", token trees " << sb.model_tokens << "; max |ll diff| " << max_diff << "\n";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Runs, SharedPrefixes,
                         ::testing::Values("stories260k", "stories260k_mmlu_2shot", "tiny_llama3"));

TEST(EvalParity, MmluGroupAccuracyIsSizeWeighted) {
  json ref = json::parse(read_file(test::fixtures_dir() + "/lmeval/tiny_llama3.json"));
  CausalLM m = load_model(ref["model_dir"].get<std::string>(), {torch::kFloat32, torch::kCPU});
  auto tok = load_tokenizer(ref["model_dir"].get<std::string>());
  EvalOptions o;
  o.tasks = "mmlu";
  o.limit = ref["limit"];
  o.data_dir = test::source_dir() + "/data";
  auto out = evaluate_model(m, *tok, o, ref["model_dir"], nullptr);
  for (const char* g : {"mmlu", "mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities"})
    EXPECT_NEAR(out["results"][g]["acc,none"].get<double>(), ref["results"][g]["acc,none"].get<double>(), 1e-12) << g;
}

TEST(EvalParity, PerplexityMatchesTransformers) {
  json ref = json::parse(read_file(test::fixtures_dir() + "/ppl/stories260k_tinystories_eval_512.json"));
  CausalLM m = load_model(test::source_dir() + "/data/stories260k", {torch::kFloat32, torch::kCPU});
  auto tok = load_tokenizer(test::source_dir() + "/data/stories260k");
  PplText t = load_ppl_text("ppl", "", ref["text_file"].get<std::string>());
  auto ids = tok->encode(t.text, true);
  EXPECT_EQ(int64_t(ids.size()), ref["tokens"].get<int64_t>());
  PplResult r = eval_ppl_ids(m, ids, 512, 4, 0, "ppl");
  EXPECT_EQ(r.windows, ref["windows"].get<int64_t>());
  EXPECT_NEAR(r.ppl, ref["ppl"].get<double>(), 1e-4 * ref["ppl"].get<double>());
  std::cout << "leap ppl " << r.ppl << " vs transformers " << ref["ppl"].get<double>() << "\n";
}

}  // namespace
}  // namespace leap
