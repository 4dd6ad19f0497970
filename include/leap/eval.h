// eval.h — `leap eval` (perplexity + zero-shot tasks, lm-eval-shaped JSON and table) and
// `leap report` (Markdown/CSV comparison of result files).
#pragma once
#include <nlohmann/json.hpp>

#include "leap/model.h"
#include "leap/options.h"
#include "leap/tokenizer.h"

namespace leap {
// Evaluates an already loaded model; returns the lm-eval-shaped results object.
nlohmann::ordered_json evaluate_model(CausalLM& m, const Tokenizer& tok, EvalOptions& o, const std::string& model_dir);
void run_eval(EvalOptions& o);
void run_report(ReportOptions& o);
// The terminal table in lm-eval's column layout.
std::string results_table(const nlohmann::ordered_json& results);
// The paper tasks whose unweighted mean of acc is the headline average.
const std::vector<std::string>& paper_tasks();
}  // namespace leap
