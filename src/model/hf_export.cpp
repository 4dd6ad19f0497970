// hf_export.cpp — see hf_export.h.
#include "model/hf_export.h"

#include <filesystem>
#include <unistd.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"

namespace leap {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

void export_hf_model(CausalLM& m, const std::string& source_dir, const std::string& out_dir, const json& sidecar,
                     uint64_t max_shard_bytes) {
  torch::NoGradGuard ng;
  LEAP_CHECK(!out_dir.empty(), "--save_model is empty");
  fs::path out = fs::absolute(fs::path(out_dir)).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  fs::path src = fs::absolute(fs::path(source_dir)).lexically_normal();
  if (out == src) fail("%s: refusing to overwrite the source model folder", out_dir.c_str());
  std::error_code ec;
  fs::create_directories(out.parent_path(), ec);
  std::string tmp_name = ".";  // appended piecewise: GCC 12 misreports `"." + string&&` (-Wstringop-overflow)
  tmp_name += out.filename().string();
  tmp_name += ".tmp-" + std::to_string(::getpid());
  fs::path tmp = out.parent_path() / tmp_name;
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec))
    fail("%s: cannot create %s: %s", out_dir.c_str(), tmp.string().c_str(), ec.message().c_str());
  try {
    // 1. non-weight files, byte for byte
    for (const auto& e : fs::directory_iterator(src)) {
      if (!e.is_regular_file()) continue;
      std::string name = e.path().filename().string();
      if (name.size() > 12 && name.substr(name.size() - 12) == ".safetensors") continue;
      if (name == "model.safetensors.index.json" || name == "leap_sparsity.json") continue;
      write_file_atomic((tmp / name).string(), read_file(e.path().string()));
    }
    // 2. weights under the source keys and dtypes
    st::Reader ck(source_dir);
    auto params = m->named_parameters();
    std::vector<std::pair<std::string, torch::Tensor>> all;
    for (const std::string& key : ck.names()) {
      const st::TensorInfo& info = ck.info(key);
      std::string name = canonical_key(key, m->config());
      torch::Tensor t;
      if (!name.empty() && params.contains(name))
        t = params[name].detach().to(torch::kCPU).to(to_torch_dtype(info.dtype));
      else if (key == "lm_head.weight" && m->config().tie_word_embeddings)
        t = m->lm_head_weight().detach().to(torch::kCPU).to(to_torch_dtype(info.dtype));
      else
        t = read_tensor(ck, key);  // untouched by leap (vision tower, buffers)
      all.emplace_back(key, t);
    }
    std::vector<std::vector<size_t>> shards(1);
    uint64_t cur = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      uint64_t nb = uint64_t(all[i].second.nbytes());
      if (cur > 0 && cur + nb > max_shard_bytes) {
        shards.emplace_back();
        cur = 0;
      }
      shards.back().push_back(i);
      cur += nb;
    }
    std::map<std::string, std::string> meta = {{"format", "pt"}};
    if (shards.size() == 1) {
      write_safetensors((tmp / "model.safetensors").string(), all, meta);
    } else {
      json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
      uint64_t total = 0;
      for (size_t s = 0; s < shards.size(); ++s) {
        std::string fname = strformat("model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
        std::vector<std::pair<std::string, torch::Tensor>> part;
        for (size_t i : shards[s]) {
          part.push_back(all[i]);
          index["weight_map"][all[i].first] = fname;
          total += uint64_t(all[i].second.nbytes());
        }
        write_safetensors((tmp / fname).string(), part, meta);
      }
      index["metadata"]["total_size"] = total;
      write_file_atomic((tmp / "model.safetensors.index.json").string(), index.dump(2) + "\n");
    }
    // 3. the sidecar, last: its presence marks a complete folder
    write_file_atomic((tmp / "leap_sparsity.json").string(), sidecar.dump(2) + "\n");
    fsync_dir(tmp.string());
    // 4. swap into place
    fs::path old;
    if (fs::exists(out)) {
      if (!fs::is_directory(out)) fail("%s exists and is not a folder", out.string().c_str());
      old = out.parent_path() / ("." + out.filename().string() + ".old-" + std::to_string(::getpid()));
      fs::rename(out, old);
    }
    fs::rename(tmp, out);
    fsync_dir(out.parent_path().string());
    if (!old.empty()) fs::remove_all(old, ec);
  } catch (const Error& e) {
    fs::remove_all(tmp, ec);
    fail("%s: writing the model folder failed, the previous content (if any) is untouched: %s", out_dir.c_str(),
         e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace leap
