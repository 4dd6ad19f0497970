// cmd_eval.h — `leap eval`: perplexity and zero-shot accuracy of one model, lm-eval-shaped JSON
// and table.
#pragma once
#include "options.h"

namespace leap {
void run_eval(EvalArgs& o);
}  // namespace leap
