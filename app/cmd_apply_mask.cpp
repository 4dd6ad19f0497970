// cmd_apply_mask.cpp — `leap apply-mask`: reads a mask file (io/mask_file.h), checks it against
// the dense base model — every mask names a decoder linear of it, with its shape, and (leap's
// files) was made for exactly these weights, by their sha256 — then zeroes the pruned weights and
// writes the HF folder with leap_sparsity.json, as `leap prune --save_model` would have. A mask
// made for other weights is refused before anything is written.
#include "cmd_apply_mask.h"

#include <filesystem>
#include <torch/version.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "io/hf_config.h"
#include "io/model_path.h"
#include "leap/version.h"
#include "model/hf_export.h"
#include "model/model.h"
#include "prune/sparsity_summary.h"

namespace leap {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// module parameter name → the checkpoint key it is loaded from (model.cpp's canonical_key)
std::map<std::string, std::string> checkpoint_keys(const st::Reader& ckpt, const ModelConfig& cfg) {
  std::map<std::string, std::string> out;
  for (const std::string& key : ckpt.names()) {
    const std::string name = canonical_key(key, cfg);
    if (!name.empty()) out[name] = key;
  }
  return out;
}

// Every entry names a decoder linear of the model with the weight's shape, and (leap's files)
// was made for these weights; returns each entry's linear, in entry order.
std::vector<Linear> match_entries(const MaskFile& mf, CausalLM& m, const st::Reader& ckpt,
                                  const std::map<std::string, std::string>& keys, const std::string& model_dir) {
  std::map<std::string, Linear> linears;  // "model.layers.0.self_attn.q_proj.weight" → its linear
  for (auto& l : m->decoder_linears()) linears.emplace(l.name + ".weight", l.linear);
  const std::string made_for = mf.meta.is_object() && mf.meta.contains("base_model")
                                   ? " (the mask was made for " + mf.meta["base_model"].dump() + ")"
                                   : "";
  std::vector<Linear> out;
  std::vector<std::string> foreign;
  for (const MaskEntry& e : mf.entries) {
    const std::string name = canonical_key(e.key, m->config());
    auto it = linears.find(name);
    if (it == linears.end())
      fail("%s: mask \"%s\" names no decoder linear of %s%s", mf.path.c_str(), e.key.c_str(), model_dir.c_str(),
           made_for.c_str());
    const torch::Tensor& w = it->second->weight;
    if (e.keep.sizes() != w.sizes())
      fail("%s: mask \"%s\" has shape %s, but the weight in %s has %s%s", mf.path.c_str(), e.key.c_str(),
           shape_str(e.keep.sizes().vec()).c_str(), model_dir.c_str(), shape_str(w.sizes().vec()).c_str(), made_for.c_str());
    if (!e.weights_sha256.empty() && weights_sha256(ckpt, keys.at(name)) != e.weights_sha256) foreign.push_back(e.key);
    out.push_back(it->second);
  }
  if (!foreign.empty())
    fail("%s was made for other weights: %zu of its %zu masked tensors differ from %s by sha256 (first: \"%s\")%s",
         mf.path.c_str(), foreign.size(), mf.entries.size(), model_dir.c_str(), foreign.front().c_str(),
         made_for.c_str());
  if (mf.entries.size() < linears.size())
    LEAP_WARN("%s masks %zu of the %zu decoder linears of %s; the others stay dense", mf.path.c_str(),
              mf.entries.size(), linears.size(), model_dir.c_str());
  return out;
}

}  // namespace

std::vector<MaskEntry> mask_entries(const std::string& source_dir, const std::map<std::string, torch::Tensor>& keep) {
  const ModelConfig cfg = load_hf_config((fs::path(source_dir) / "config.json").string());
  st::Reader ckpt(source_dir);
  const auto keys = checkpoint_keys(ckpt, cfg);
  std::vector<MaskEntry> out;
  for (const auto& [name, k] : keep) {
    auto it = keys.find(name + ".weight");
    LEAP_CHECK(it != keys.end(), "%s: no checkpoint tensor for \"%s.weight\"", source_dir.c_str(), name.c_str());
    out.push_back({it->second, k, weights_sha256(ckpt, it->second)});
  }
  return out;
}

void run_apply_mask(ApplyMaskArgs& o) {
  ResolvedModel rm = resolve_model(o.model);
  log::out(config_table("leap apply-mask", o));
  std::vector<std::unique_ptr<OutputLock>> locks;
  for (const std::string* p : {&o.save_model, &o.output_path})
    if (!p->empty()) locks.push_back(std::make_unique<OutputLock>(*p));
  Stopwatch sw;
  const MaskFile mf = read_mask_file(o.mask);
  LEAP_INFO("read %s (%s format, %zu masked tensors)", o.mask.c_str(), mf.format.c_str(), mf.entries.size());
  CausalLM m = load_model(rm.dir, {torch::kFloat32, torch::kCPU});  // exact for every stored dtype
  st::Reader ckpt(rm.dir);
  const std::vector<Linear> linears = match_entries(mf, m, ckpt, checkpoint_keys(ckpt, m->config()), rm.dir);
  if (mf.format == "npz")
    LEAP_WARN("%s carries no weight hashes: only its names and shapes were checked against %s", o.mask.c_str(),
              rm.dir.c_str());
  else
    LEAP_INFO("all %zu masks were made for these weights (sha256 of each)", mf.entries.size());
  {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < linears.size(); ++i) linears[i]->weight.mul_(mf.entries[i].keep.to(torch::kFloat32));
  }
  const ojson sp = sparsity_json(summarize_sparsity(measure_sparsity(m)));
  LEAP_INFO("applied %zu masks in %s: achieved sparsity %.6f over %lld decoder-linear weights", mf.entries.size(),
            format_duration(sw.seconds()).c_str(), sp["overall"].get<double>(), (long long)sp["params"].get<int64_t>());
  const ojson meta = ojson::parse(mf.meta.is_null() ? "{}" : mf.meta.dump());
  ojson report = {
      {"leap_version", version()},
      {"git_sha", kGitSha},
      {"libtorch", TORCH_VERSION},
      {"method", meta.is_object() && meta.contains("method") ? meta["method"] : ojson("mask file")},
      {"target_sparsity", meta.is_object() && meta.contains("sparsity") ? meta["sparsity"] : ojson(nullptr)},
      {"achieved_sparsity", sp},
      {"source_model", rm.dir},
      {"mask_file",
       {{"path", o.mask},
        {"sha256", sha256_file(o.mask)},
        {"format", mf.format},
        {"weights_checked", mf.format == "leap" ? "sha256" : "names and shapes"},
        {"meta", meta}}},
      {"config", config_json(o)}};
  export_hf_model(m, rm.dir, o.save_model, report);
  LEAP_INFO("wrote %s", o.save_model.c_str());
  if (!o.output_path.empty()) write_file_atomic(o.output_path, report.dump(2) + "\n");
}

}  // namespace leap
