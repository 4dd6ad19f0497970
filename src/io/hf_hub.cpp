// hf_hub.cpp — see hf_hub.h.
#include "io/hf_hub.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "base/fs_util.h"

namespace leap {
namespace fs = std::filesystem;

std::vector<std::string> hub_caches() {
  std::vector<std::string> out;
  auto env = [](const char* n) -> std::string {
    const char* v = std::getenv(n);
    return v && *v ? v : "";
  };
  for (const char* n : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"})
    if (!env(n).empty()) out.push_back(env(n));
  if (!env("HF_HOME").empty()) out.push_back((fs::path(env("HF_HOME")) / "hub").string());
  if (!env("XDG_CACHE_HOME").empty()) out.push_back((fs::path(env("XDG_CACHE_HOME")) / "huggingface" / "hub").string());
  if (!env("HOME").empty()) out.push_back((fs::path(env("HOME")) / ".cache" / "huggingface" / "hub").string());
  return out;
}

std::string find_hub_snapshot(const std::string& kind, const std::string& id,
                              const std::function<bool(const std::string&)>& usable, std::vector<std::string>& looked) {
  std::string folder = kind + "s--" + id;  // models--ORG--NAME, datasets--ORG--NAME
  for (size_t p = 0; (p = folder.find('/', p)) != std::string::npos;) folder.replace(p, 1, "--");
  for (const std::string& cache : hub_caches()) {
    fs::path repo = fs::path(cache) / folder;
    looked.push_back((repo / "snapshots").string() + "/<rev>/");
    std::error_code ec;
    if (!fs::is_directory(repo / "snapshots", ec)) continue;
    fs::path ref = repo / "refs" / "main";
    if (file_exists(ref.string())) {
      std::string rev = read_file(ref.string());
      rev.erase(std::remove_if(rev.begin(), rev.end(), ::isspace), rev.end());
      fs::path snap = repo / "snapshots" / rev;
      if (!rev.empty() && is_directory(snap.string()) && usable(snap.string())) return snap.string();
    }
    // No usable ref: the most recently modified usable snapshot.
    fs::path best;
    fs::file_time_type best_t{};
    for (const auto& e : fs::directory_iterator(repo / "snapshots", ec)) {
      if (!e.is_directory(ec) || !usable(e.path().string())) continue;
      auto t = fs::last_write_time(e.path(), ec);
      if (best.empty() || t > best_t) best = e.path(), best_t = t;
    }
    if (!best.empty()) return best.string();
  }
  return "";
}

}  // namespace leap
