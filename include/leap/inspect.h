// inspect.h — `leap inspect logits|model|tokenize`: look inside a model without changing it.
#pragma once
#include "leap/options.h"

namespace leap {
void run_inspect_logits(InspectLogitsOptions& o);
void run_inspect_model(InspectModelOptions& o);
void run_inspect_tokenize(InspectTokenizeOptions& o);
void run_inspect_sparsity(InspectSparsityOptions& o);
}  // namespace leap
