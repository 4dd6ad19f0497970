// cmd_inspect.h — `leap inspect logits|model|tokenize|sparsity|data`: look inside a model without
// changing it (float32 logits for given ids, architecture and prunable linears, token ids and
// pieces, per-block sparsity from the weights) and at the training text LEAP would read.
#pragma once
#include "options.h"

namespace leap {
void run_inspect_logits(InspectLogitsArgs& o);
void run_inspect_model(InspectModelArgs& o);
void run_inspect_tokenize(InspectTokenizeArgs& o);
void run_inspect_sparsity(InspectSparsityArgs& o);
void run_inspect_data(InspectDataArgs& o);
}  // namespace leap
