// prune.h — `leap prune`: load, calibrate, prune (layer-wise methods), report, and save.
#pragma once
#include "leap/model_path.h"
#include "leap/options.h"

namespace leap {
void run_prune(PruneOptions& o);
// Model presets (configs/models/<name>.json "defaults") applied to flags the user did not set.
nlohmann::json model_preset_defaults(const ModelPreset& preset);
}  // namespace leap
