// eval_options.h — what `leap eval` evaluates and how (tasks, windows, limits, data folder): the
// settings evaluate_model reads. The application composes this struct into its `leap eval`
// arguments, and `leap prune --eval_tasks` fills one; visit() lists each field once. Torch-free.
#pragma once
#include <cstdint>
#include <string>

namespace leap {

struct EvalOptions {
  std::string tasks = "wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu";
  int64_t seqlen = 4096;
  int64_t ppl_windows = 0;  // 0: every window (c4: 256)
  int64_t batch_size = 8;
  int64_t limit = 0;
  int64_t mmlu_limit = 0;  // 0: --limit
  int64_t num_fewshot = 0;
  std::string data_dir;  // default $LEAP_DATA_DIR, else leap's data/
  std::string ppl_file;
  std::string log_samples;
  int64_t max_length = 0;  // 0: the model's max_position_embeddings
  bool share_prefixes = true;
  template <class V>
  void visit(V& v) {
    v("tasks", tasks,
      "comma list: wikitext2, c4, ppl, piqa, arc_easy, arc_challenge, openbookqa, winogrande, mmlu, hellaswag, "
      "lambada_openai, mmlu_<subject> (with --ppl_file and no --tasks: ppl)",
      false);
    v("seqlen", seqlen, "perplexity window length (4096; 2048 for the older literature; a preset's eval_seqlen)",
      false);
    v("ppl_windows", ppl_windows, "perplexity on the first N windows only (0: all; c4: 256)", false);
    v("batch_size", batch_size, "sequences per forward pass", false);
    v("limit", limit, "evaluate only the first N documents of each task (per subject for mmlu)", false);
    v("mmlu_limit", mmlu_limit, "mmlu: the first N documents per subject instead of --limit", false);
    v("num_fewshot", num_fewshot, "few-shot examples (mmlu only: first N of the dev split)", false);
    v("data_dir", data_dir, "folder with the task data (default $LEAP_DATA_DIR, else the bundled data/)", false);
    v("ppl_file", ppl_file, "text file for the task \"ppl\"", false);
    v("log_samples", log_samples, "write per-document log-likelihoods (jsonl) here", false);
    v("max_length", max_length, "context limit for task scoring (0: the model's max_position_embeddings)", false);
    v("share_prefixes", share_prefixes,
      "score inputs that share a prefix (a document's choices) in one token-tree row, the prefix once; "
      "--share_prefixes=false: one causal row per input, as lm-eval",
      false);
  }
};

}  // namespace leap
