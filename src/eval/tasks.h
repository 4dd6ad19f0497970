// tasks.h — zero-shot multiple-choice scoring exactly as lm-evaluation-harness (0.4.13) does.
//
// Log-likelihood of a continuation given a context (HFLM): trailing whitespace of the context
// moves to the continuation; continuation tokens = encode(context + continuation) minus the first
// len(encode(context)) tokens; both encodings use the tokenizer's default special tokens (BOS for
// Llama/Gemma, none for Qwen); inputs are (context + continuation)[-(max_length+1):][:-1];
// ll = Σ log p(continuation tokens) from float32 log-softmax; is_greedy = every continuation
// token is the argmax. Requests with the same input run as one sequence.
//
// Shared prefixes (share_prefixes, the default): inputs that share a prefix — one document's
// choices after the same context, Winogrande's two contexts up to the blank, few-shot prompts —
// are packed into one row as a token tree (model.h TokenTree), so the shared tokens run once and
// each continuation sees exactly the tokens it would see alone. Inputs sorted lexicographically
// join the current row while the linear work their shared prefix saves exceeds the attention work
// joining adds (a tree computes all S × S masked scores, a one-input row causal ones), up to 2048
// tokens a row; a batch whose rows each hold one input runs causally. Off: one causal row per
// input, lm-eval's computation. Rows are right-padded into batches, longest first (lm-eval's
// Collator).
//
// Metrics: acc = [argmax ll = gold]; acc_norm = [argmax ll/len(choice in code points) = gold];
// stderr = sample std / sqrt(n); MMLU groups weight subjects by size with pooled stderr;
// lambada_openai: perplexity = exp(−mean ll), acc = mean is_greedy (docs/METHOD.md §3.2–3.5).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/task_data.h"
#include "model/model.h"
#include "text/tokenizer.h"

namespace leap {

struct LLRequest {
  std::string context, continuation;
};
struct LLResult {
  double ll = 0;
  bool greedy = false;
};

// What one score() call computed: requests, the tokens their inputs hold (what one causal row per
// request runs), the tokens the model ran (shared prefixes once, padding excluded), seconds.
struct ScoreStats {
  int64_t requests = 0, input_tokens = 0, model_tokens = 0, rows = 0;
  double seconds = 0;
};

class LoglikelihoodScorer {
 public:
  LoglikelihoodScorer(CausalLM& m, const Tokenizer& tok, int64_t max_length, int64_t batch_size,
                      bool share_prefixes = true);
  std::vector<LLResult> score(const std::vector<LLRequest>& reqs, const std::string& label);
  const ScoreStats& last_stats() const { return stats_; }
  // lm-eval's _encode_pair
  std::pair<std::vector<int64_t>, std::vector<int64_t>> encode_pair(const std::string& context,
                                                                    const std::string& continuation) const;

 private:
  CausalLM& m_;
  const Tokenizer& tok_;
  int64_t max_length_, batch_size_;
  bool share_prefixes_;
  int64_t truncated_ = 0;  // continuations longer than max_length in the current score() call
  ScoreStats stats_;
  std::vector<int64_t> tok_encode(const std::string& s) const;
  struct Input {
    std::vector<int64_t> inp, cont;  // model input, scored continuation tokens
  };
  Input model_input(const LLRequest& req, size_t index, const std::string& label);
};

// Per-doc record (log_samples) and the task's lm-eval metrics.
struct TaskOutcome {
  std::string name;
  nlohmann::ordered_json metrics;  // {"acc,none": .., "acc_stderr,none": .., ...}
  std::vector<nlohmann::ordered_json> samples;
  std::vector<double> acc;  // per doc (mmlu aggregation)
  std::vector<std::string> subject;
};

TaskOutcome evaluate_task(LoglikelihoodScorer& scorer, const TaskData& task);

// Mean and lm-eval's mean_stderr (sample std / sqrt(n); NaN for n <= 1).
std::pair<double, double> mean_and_stderr(const std::vector<double>& xs);

}  // namespace leap
