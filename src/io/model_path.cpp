// model_path.cpp — see model_path.h.
#include "io/model_path.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "io/hf_hub.h"

namespace leap {
namespace fs = std::filesystem;

namespace {
fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path(ec) : exe.parent_path();
}
bool has_configs(const fs::path& d) {
  std::error_code ec;
  return fs::is_directory(d / "configs" / "models", ec);
}
}  // namespace

std::string leap_home() {
  if (const char* h = std::getenv("LEAP_HOME"); h && *h) return h;
  static const std::string home = [] {
    const fs::path start = executable_dir();
    for (fs::path d = start;; d = d.parent_path()) {
      if (has_configs(d)) return d.string();
      if (has_configs(d / "share" / "leap")) return (d / "share" / "leap").string();
      if (d == d.root_path() || d.empty()) break;
    }
    fail(
        "leap's data files (configs/models, data/) were not found in %s or any folder above it (nor in their "
        "share/leap); set LEAP_HOME to the leap source tree or install prefix",
        start.string().c_str());
  }();
  return home;
}

nlohmann::json model_preset_defaults(const ModelPreset& preset) {
  if (!preset.found() || !preset.json.contains("defaults")) return nlohmann::json::object();
  nlohmann::json d = preset.json["defaults"];
  LEAP_CHECK(d.is_object(), "%s: \"defaults\" must be an object", preset.file.c_str());
  for (auto it = d.begin(); it != d.end(); ++it)
    if (it.value().is_string() &&
        (it.key().find("data") != std::string::npos || it.key().find("file") != std::string::npos)) {
      fs::path v = it.value().get<std::string>();
      if (!v.empty() && v.is_relative()) it.value() = (fs::path(leap_home()) / v).string();
    }
  return d;
}

std::string leap_cache_dir() {
  if (const char* c = std::getenv("LEAP_CACHE_DIR"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "leap").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".cache" / "leap").string();
}

std::vector<std::string> model_short_names() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(leap_home()) / "configs" / "models", ec))
    if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// Finds ORG/NAME in the HF caches; appends every folder looked at to `looked`.
std::string find_in_hub_cache(const std::string& id, std::vector<std::string>& looked) {
  return find_hub_snapshot(
      "model", id, [](const std::string& snap) { return file_exists((fs::path(snap) / "config.json").string()); },
      looked);
}

}  // namespace

ModelPreset read_model_preset(const std::string& short_name) {
  ModelPreset p;
  p.file = (fs::path(leap_home()) / "configs" / "models" / (short_name + ".json")).string();
  if (short_name.empty() || short_name.find('/') != std::string::npos || !file_exists(p.file)) return p;
  p.json = read_json_file(p.file);
  LEAP_CHECK(p.json.is_object(), "%s: expected a JSON object", p.file.c_str());
  return p;
}

ResolvedModel resolve_model(const std::string& spec) {
  LEAP_CHECK(!spec.empty(), "--model is empty");
  ResolvedModel r;
  std::vector<std::string> looked;
  if (is_directory(spec)) {
    if (!file_exists((fs::path(spec) / "config.json").string()))
      fail("%s: folder has no config.json (expected a HuggingFace model folder)", spec.c_str());
    r.dir = spec;
    return r;
  }
  looked.push_back(spec + " (as a local folder)");
  std::string hf_id = spec;
  ModelPreset preset = read_model_preset(spec);
  const fs::path short_cfg = preset.file;
  looked.push_back(short_cfg.string() + " (short name)");
  if (preset.found()) {
    const nlohmann::json& j = preset.json;
    r.short_name = spec;
    r.preset = preset;
    if (j.contains("path") && j["path"].is_string()) {
      fs::path p = j["path"].get<std::string>();
      if (p.is_relative()) p = fs::path(leap_home()) / p;
      if (!file_exists((p / "config.json").string()))
        fail("%s: model folder %s named by %s has no config.json", spec.c_str(), p.string().c_str(),
             short_cfg.string().c_str());
      r.dir = p.string();
      r.hf_id = j.value("hf_id", "");
      return r;
    }
    if (j.contains("cache_path") && j["cache_path"].is_string()) {
      fs::path p = fs::path(leap_cache_dir()) / j["cache_path"].get<std::string>();
      if (!file_exists((p / "config.json").string()))
        fail("%s: model folder %s (named by %s) is not there yet; make it once with: %s", spec.c_str(),
             p.string().c_str(), short_cfg.string().c_str(),
             (fs::path(leap_home()) / j.value("setup", std::string("scripts/setup.sh"))).string().c_str());
      r.dir = p.string();
      r.hf_id = j.value("hf_id", "");
      return r;
    }
    if (!j.contains("hf_id") || !j["hf_id"].is_string())
      fail("%s: needs a \"path\", \"cache_path\" or an \"hf_id\" string", short_cfg.string().c_str());
    hf_id = j["hf_id"].get<std::string>();
  }
  if (hf_id.find('/') != std::string::npos) {
    std::string dir = find_in_hub_cache(hf_id, looked);
    if (!dir.empty()) {
      r.dir = dir;
      r.hf_id = hf_id;
      return r;
    }
  }
  std::string msg = "model \"" + spec + "\" not found (leap never downloads). Looked in:";
  for (const auto& l : looked) msg += "\n  - " + l;
  if (hf_id.find('/') != std::string::npos)
    msg += "\nTo fetch it into the HF cache: huggingface-cli download " + hf_id;
  else {
    msg += "\nKnown short names:";
    for (const auto& n : model_short_names()) msg += " " + n;
  }
  throw Error(msg);
}

}  // namespace leap
