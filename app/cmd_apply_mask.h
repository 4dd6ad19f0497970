// cmd_apply_mask.h — `leap apply-mask`: a dense base model and a 1-bit mask file → the pruned HF
// folder; and the mask entries `leap prune --save_mask` writes.
#pragma once
#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "io/mask_file.h"
#include "options.h"

namespace leap {

// The keep masks of a run (by module name, as the pruners return them) as mask-file entries keyed
// by the checkpoint keys of `source_dir`, each with the sha256 of its base weights there.
std::vector<MaskEntry> mask_entries(const std::string& source_dir, const std::map<std::string, torch::Tensor>& keep);

void run_apply_mask(ApplyMaskArgs& o);

}  // namespace leap
