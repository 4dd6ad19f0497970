// model_path.h — turns a --model argument into a local HF folder. Nothing is downloaded.
//
// Accepted, in this order: a local folder; a short name from configs/models/<name>.json (which
// names a folder inside the repository, e.g. the embedded stories260k; a folder in leap's cache
// made by a setup script, e.g. smollm2-135m; or an HF repo id);
// an HF repo id "ORG/NAME" found in the local HF cache ($HF_HUB_CACHE, $HF_HOME/hub, or
// ~/.cache/huggingface/hub: models--ORG--NAME/snapshots/<rev>/, the revision in refs/main
// first). A miss is an error listing every place looked and the huggingface-cli command.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace leap {

// A preset configs/models/<name>.json, parsed once: "path", "cache_path" (with "setup", the script
// that makes it) or "hf_id", optional "defaults" (flag
// values) and "config" (the architecture, for --dry_run of a model not downloaded).
struct ModelPreset {
  std::string file;     // its path
  nlohmann::json json;  // null when there is no such preset
  bool found() const { return !json.is_null(); }
};
// The preset of a short name (null json when the file does not exist; malformed JSON is an error).
ModelPreset read_model_preset(const std::string& short_name);
// Its "defaults" (flag values applied to the flags the user did not set; {} without a preset),
// with relative "...data..." / "...file..." paths made relative to leap_home().
nlohmann::json model_preset_defaults(const ModelPreset& preset);

struct ResolvedModel {
  std::string dir;         // folder with config.json
  std::string short_name;  // configs/models name when one was used
  std::string hf_id;       // repo id when known
  ModelPreset preset;      // that name's preset
};

ResolvedModel resolve_model(const std::string& spec);

// Folder holding leap's data files (configs/, data/, scripts/): $LEAP_HOME; else, from the
// folder of the running executable upwards, the first folder that has configs/models (a build
// inside the source tree: build/leap → the tree) or share/leap/configs/models (an install prefix:
// bin/leap → share/leap; a build folder elsewhere links share/leap to its source tree). An error
// names the places looked when none is found.
std::string leap_home();
// leap's per-user cache (virtualenv, converted models): $LEAP_CACHE_DIR, else
// $XDG_CACHE_HOME/leap, else ~/.cache/leap — the folder scripts/setup.sh uses.
std::string leap_cache_dir();
// Short names available in configs/models.
std::vector<std::string> model_short_names();

}  // namespace leap
