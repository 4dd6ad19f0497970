// cmd_prune.h — `leap prune`: LEAP (learned masks, the default) or a layer-wise method
// (magnitude, Wanda, SparseGPT, ADMM); writes the pruned HF folder and a JSON report.
#pragma once
#include "options.h"

namespace leap {
void run_prune(PruneArgs& o);
}  // namespace leap
