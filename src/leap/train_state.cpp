// train_state.cpp — see train_state.h.
#include "leap/train_state.h"

#include <algorithm>
#include <filesystem>
#include <unistd.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"

namespace leap {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
std::vector<fs::path> complete_checkpoints(const std::string& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step_", 0) == 0 && n.size() == 13 &&
        file_exists((e.path() / "state.json").string()))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

void save_train_state(const std::string& ckpt_dir, const std::vector<std::string>& names, const TrainState& s,
                      int keep) {
  fs::create_directories(ckpt_dir);
  std::string step = strformat("step_%08lld", (long long)s.step);
  fs::path final_dir = fs::path(ckpt_dir) / step;
  fs::path tmp = fs::path(ckpt_dir) / ("." + step + ".tmp-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  try {
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (size_t i = 0; i < names.size(); ++i) {
      tensors.emplace_back("theta." + names[i], s.theta[i]);
      tensors.emplace_back("exp_avg." + names[i], s.moments.exp_avg[i]);
      tensors.emplace_back("exp_avg_sq." + names[i], s.moments.exp_avg_sq[i]);
      if (s.moments.quantized()) {  // 8-bit moments: their codes above, the block scales here
        tensors.emplace_back("exp_avg_scale." + names[i], s.moments.exp_avg_scale[i]);
        tensors.emplace_back("exp_avg_sq_scale." + names[i], s.moments.exp_avg_sq_scale[i]);
      }
    }
    tensors.emplace_back("rng.cpu", s.cpu_rng);
    tensors.emplace_back("data.order", torch::tensor(s.order, torch::kInt64));
    write_safetensors((tmp / "state.safetensors").string(), tensors);
    write_file_atomic((tmp / "metrics.jsonl").string(), s.metrics);
    json j = {{"step", s.step},
              {"cursor", s.cursor},
              {"data_rng", s.data_rng},
              {"first_ce", s.first_ce},
              {"fingerprint", s.fingerprint}};
    write_file_atomic((tmp / "state.json").string(), j.dump(2) + "\n");  // last: marks completeness
    fsync_dir(tmp.string());
  } catch (const Error& e) {  // a failed write (disk full, file-size limit) leaves the previous checkpoints alone
    fs::remove_all(tmp, ec);
    fail("%s: writing training checkpoint %s failed, the previous checkpoints are untouched: %s", ckpt_dir.c_str(),
         step.c_str(), e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir);
  fsync_dir(ckpt_dir);
  auto all = complete_checkpoints(ckpt_dir);
  for (size_t i = 0; i + size_t(keep) < all.size(); ++i) fs::remove_all(all[i], ec);
}

bool load_latest_train_state(const std::string& ckpt_dir, const std::vector<std::string>& names, const json& expect,
                             TrainState& s) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ckpt_dir, ec))  // leftovers of a killed writer
    if (e.path().filename().string().rfind(".step_", 0) == 0) fs::remove_all(e.path(), ec);
  auto all = complete_checkpoints(ckpt_dir);
  if (all.empty()) return false;
  const fs::path& d = all.back();
  json j = read_json_file((d / "state.json").string());
  std::string diff;
  for (auto it = expect.begin(); it != expect.end(); ++it)
    if (!j["fingerprint"].contains(it.key()) || j["fingerprint"][it.key()] != it.value())
      diff += strformat("\n  - %s: checkpoint %s, this run %s", it.key().c_str(),
                        j["fingerprint"].contains(it.key()) ? j["fingerprint"][it.key()].dump().c_str() : "(absent)",
                        it.value().dump().c_str());
  if (!diff.empty()) fail("%s: cannot resume, the run's settings differ:%s", d.string().c_str(), diff.c_str());
  st::Reader ck((d / "state.safetensors").string());
  s = TrainState{};
  s.step = j["step"].get<int64_t>();
  s.cursor = j["cursor"].get<int64_t>();
  s.data_rng = j["data_rng"].get<std::string>();
  s.first_ce = j.value("first_ce", 0.0);
  s.fingerprint = j["fingerprint"];
  const bool q8 = !names.empty() && ck.contains("exp_avg_scale." + names[0]);  // 8-bit moments
  for (const auto& n : names) {
    for (const char* k : {"theta.", "exp_avg.", "exp_avg_sq."})
      if (!ck.contains(k + n)) fail("%s: checkpoint lacks %s%s", d.string().c_str(), k, n.c_str());
    for (const char* k : {"exp_avg_scale.", "exp_avg_sq_scale."})
      if (q8 && !ck.contains(k + n)) fail("%s: checkpoint lacks %s%s", d.string().c_str(), k, n.c_str());
    s.theta.push_back(read_tensor(ck, "theta." + n).clone());
    s.moments.exp_avg.push_back(read_tensor(ck, "exp_avg." + n).clone());
    s.moments.exp_avg_sq.push_back(read_tensor(ck, "exp_avg_sq." + n).clone());
    if (q8) {
      s.moments.exp_avg_scale.push_back(read_tensor(ck, "exp_avg_scale." + n).clone());
      s.moments.exp_avg_sq_scale.push_back(read_tensor(ck, "exp_avg_sq_scale." + n).clone());
    }
  }
  s.cpu_rng = read_tensor(ck, "rng.cpu").clone();
  torch::Tensor order = read_tensor(ck, "data.order").contiguous();
  s.order.assign(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
  if (file_exists((d / "metrics.jsonl").string())) s.metrics = read_file((d / "metrics.jsonl").string());
  return true;
}

}  // namespace leap
