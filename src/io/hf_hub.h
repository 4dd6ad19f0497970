// hf_hub.h — finds a repository in the local HuggingFace hub cache, the way huggingface_hub lays it
// out: <cache>/<kind>s--ORG--NAME/snapshots/<rev>/, the revision named by refs/main first.
// The caches, in order: $HF_HUB_CACHE, $HUGGINGFACE_HUB_CACHE, $HF_HOME/hub,
// $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub. Nothing is downloaded.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace leap {

std::vector<std::string> hub_caches();

// The snapshot folder of repo `id` ("ORG/NAME") of `kind` ("model" | "dataset") that `usable`
// accepts: refs/main's revision first, else the most recently modified usable snapshot. Returns ""
// when none; every snapshots folder looked at is appended to `looked`.
std::string find_hub_snapshot(const std::string& kind, const std::string& id,
                              const std::function<bool(const std::string& snapshot)>& usable,
                              std::vector<std::string>& looked);

}  // namespace leap
