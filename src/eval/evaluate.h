// evaluate.h — one model through the requested perplexity and zero-shot tasks, as an
// lm-eval-shaped results object (results / groups / summary / config / versions / n-shot /
// n-samples / higher_is_better / date), and lm-eval's terminal table of it. What it does not do:
// load the model or write files other than --log_samples (the application does; app/cmd_eval.cpp).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/eval_options.h"
#include "model/model.h"
#include "text/tokenizer.h"

namespace leap {

// Evaluates an already loaded model. `config` is the run's configuration as the caller records
// it (the application's flags); the effective data folder, context limit, dtype and device are
// added to it under "config".
nlohmann::ordered_json evaluate_model(CausalLM& m, const Tokenizer& tok, const EvalOptions& o,
                                      const std::string& model_dir, nlohmann::ordered_json config);
// The terminal table in lm-eval's column layout.
std::string results_table(const nlohmann::ordered_json& results);
// The paper tasks whose unweighted mean of acc is the headline average.
const std::vector<std::string>& paper_tasks();

}  // namespace leap
