// ppl.h — perplexity the way the pruning papers measure it (SparseGPT / Wanda / LEAP):
// tokenise the whole text once with the tokenizer's default special tokens, cut it into
// non-overlapping windows of `seqlen` tokens (tail dropped, no BOS inserted per window), and
// PPL = exp(mean over windows of the mean next-token NLL of the window's seqlen−1 predictions).
//
// Texts: "wikitext2" = WikiText-2 raw test, rows joined by "\n\n" (the staged file, CRLF → LF);
// "c4" = the C4 sample's documents joined by " " (SparseGPT's C4 protocol), at most 256 windows;
// "ppl" = any text file, as is. Not lm-eval's rolling word-perplexity (docs/METHOD.md §3.1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "text/tokenizer.h"

namespace leap {

struct PplText {
  std::string task;         // wikitext2 | c4 | ppl
  std::string path;         // file read
  std::string sha256;       // of the file
  std::string join;         // how documents were joined
  int64_t max_windows = 0;  // 0 = all
  std::string text;
};

// Loads the text for a perplexity task from `data_dir` (or `file` for task "ppl").
PplText load_ppl_text(const std::string& task, const std::string& data_dir, const std::string& file = "");

struct PplResult {
  double ppl = 0;
  double mean_nll = 0;
  int64_t seqlen = 0, windows = 0, tokens = 0, dropped_tail = 0;
  bool bos = false;                // whether the tokenizer put a BOS at the very start
  std::vector<double> window_nll;  // mean NLL of each window
};

// Perplexity of `m` on `ids` (already tokenised). batch_size windows per forward pass.
PplResult eval_ppl_ids(CausalLM& m, const std::vector<int64_t>& ids, int64_t seqlen, int64_t batch_size,
                       int64_t max_windows, const std::string& label);

}  // namespace leap
