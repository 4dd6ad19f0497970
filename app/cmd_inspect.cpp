// cmd_inspect.cpp — the `leap inspect` subcommands (see cmd_inspect.h).
#include "cmd_inspect.h"

#include <nlohmann/json.hpp>
#include <numeric>
#include <torch/torch.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "base/log.h"
#include "io/model_path.h"
#include "io/tensor_io.h"
#include "leap/train_data.h"
#include "model/device.h"
#include "model/model.h"
#include "prune/sparsity_summary.h"
#include "text/tokenizer.h"

namespace leap {
using json = nlohmann::json;

namespace {

// Reads IDS.json: a non-empty list of equal-length, non-empty lists of ids in [0, vocab).
torch::Tensor read_input_ids(const std::string& path, int64_t vocab) {
  json j = read_json_file(path);
  if (!j.is_array() || j.empty()) fail("%s: expected a non-empty JSON list of token-id lists", path.c_str());
  size_t len = 0;
  std::vector<int64_t> flat;
  for (size_t r = 0; r < j.size(); ++r) {
    const json& row = j[r];
    if (!row.is_array() || row.empty()) fail("%s: row %zu is not a non-empty list of token ids", path.c_str(), r);
    if (r == 0) len = row.size();
    if (row.size() != len)
      fail("%s: row %zu has %zu ids but row 0 has %zu (all rows must have equal length)", path.c_str(), r, row.size(),
           len);
    for (size_t c = 0; c < row.size(); ++c) {
      if (!row[c].is_number_integer()) fail("%s: row %zu, position %zu is not an integer", path.c_str(), r, c);
      int64_t id = row[c].get<int64_t>();
      if (id < 0 || id >= vocab)
        fail("%s: row %zu, position %zu: token id %lld outside the vocabulary [0, %lld)", path.c_str(), r, c,
             (long long)id, (long long)vocab);
      flat.push_back(id);
    }
  }
  return torch::tensor(flat, torch::kInt64).view({int64_t(j.size()), int64_t(len)});
}

std::string human(double n) {
  if (n >= 1e9) return strformat("%.2fB", n / 1e9);
  if (n >= 1e6) return strformat("%.2fM", n / 1e6);
  if (n >= 1e3) return strformat("%.1fK", n / 1e3);
  return strformat("%.0f", n);
}

}  // namespace

void run_inspect_logits(InspectLogitsArgs& o) {
  ResolvedModel rm = resolve_model(o.model);
  torch::Device dev = parse_device(o.device);
  LoadOptions lo{parse_dtype(o.dtype), dev};
  CausalLM m = load_model(rm.dir, lo);
  torch::Tensor ids = read_input_ids(o.input_ids, m->config().vocab_size);
  torch::NoGradGuard ng;
  torch::Tensor logits = m->forward(ids.to(dev)).to(torch::kFloat32).to(torch::kCPU);
  write_safetensors(o.output, {{"logits", logits}});
  LEAP_INFO("wrote logits [%lld, %lld, %lld] to %s", (long long)logits.size(0), (long long)logits.size(1),
            (long long)logits.size(2), o.output.c_str());
}

void run_inspect_model(InspectModelArgs& o) {
  ResolvedModel rm = resolve_model(o.model);
  CausalLM m = load_model(rm.dir, {parse_dtype(o.dtype), torch::kCPU});
  const ModelConfig& c = m->config();
  int64_t total = 0, prunable = 0;
  for (const auto& p : m->parameters()) total += p.numel();
  auto lins = m->decoder_linears();
  for (const auto& l : lins) prunable += l.linear->weight.numel();
  int64_t sliding = 0;
  for (bool b : c.layer_is_sliding) sliding += b;
  std::vector<std::pair<std::string, std::string>> rows = {
      {"folder", rm.dir},
      {"model_type", c.model_type + " (" + family_name(c.family) + ")"},
      {"layers",
       std::to_string(c.num_layers) +
           (sliding ? strformat(" (%lld sliding, window %lld)", (long long)sliding, (long long)c.sliding_window) : "")},
      {"hidden / intermediate", strformat("%lld / %lld", (long long)c.hidden_size, (long long)c.intermediate_size)},
      {"heads (q / kv) x head_dim",
       strformat("%lld / %lld x %lld", (long long)c.num_heads, (long long)c.num_kv_heads, (long long)c.head_dim)},
      {"vocab", std::to_string(c.vocab_size)},
      {"activation", c.hidden_act},
      {"rope (global)",
       strformat("%s theta=%g factor=%g", c.rope_global.type.c_str(), c.rope_global.theta, c.rope_global.factor)},
      {"tied embeddings", c.tie_word_embeddings ? "yes" : "no"},
      {"parameters", strformat("%lld (%s)", (long long)total, human(double(total)).c_str())},
      {"prunable (decoder linears)",
       strformat("%lld (%s, %.1f%%)", (long long)prunable, human(double(prunable)).c_str(), 100.0 * prunable / total)},
  };
  if (c.family == Family::gemma3)
    rows.insert(rows.begin() + 8,
                {"rope (local)", strformat("%s theta=%g", c.rope_local.type.c_str(), c.rope_local.theta)});
  log::out(format_table("model " + o.model, rows));
  std::vector<std::pair<std::string, std::string>> lrows;
  for (const auto& l : lins)
    lrows.emplace_back(
        l.name, strformat("[%lld, %lld]", (long long)l.linear->weight.size(0), (long long)l.linear->weight.size(1)));
  log::out(format_table(strformat("prunable linears (%zu)", lins.size()), lrows));
}

void run_inspect_sparsity(InspectSparsityArgs& o) {
  ResolvedModel rm = resolve_model(o.model);
  CausalLM m = load_model(rm.dir, {torch::kFloat32, torch::kCPU});
  const SparsitySummary sp = summarize_sparsity(measure_sparsity(m));
  std::vector<std::pair<std::string, std::string>> lrows;
  for (const auto& [l, c] : sp.per_layer) {
    std::string per;
    for (const auto& r : sp.linears)
      if (r.layer == l) per += strformat("%s %.3f  ", r.type.substr(0, r.type.find('_')).c_str(), r.sparsity());
    lrows.emplace_back(strformat("layer %lld", (long long)l), strformat("%.4f | %s", c.sparsity(), per.c_str()));
  }
  for (const auto& [t, c] : sp.per_type) lrows.emplace_back(t, strformat("%.4f", c.sparsity()));
  lrows.emplace_back("overall", strformat("%.6f (%lld of %lld decoder-linear weights are zero)", sp.overall.sparsity(),
                                          (long long)sp.overall.zeros, (long long)sp.overall.numel));
  log::out(format_table("sparsity of " + rm.dir + " (from the weights)", lrows));
}

void run_inspect_tokenize(InspectTokenizeArgs& o) {
  ResolvedModel rm = resolve_model(o.model);
  auto tok = load_tokenizer(rm.dir);
  auto ids = tok->encode(o.text, !o.no_special);
  std::string id_line = "ids:";
  for (auto id : ids) {
    id_line += ' ';
    id_line += std::to_string(id);
  }
  log::out(id_line);
  json pieces = json::array();
  for (auto id : ids) pieces.push_back(tok->piece(id));
  log::out("pieces: " + pieces.dump());
  log::out(strformat("tokens: %zu (%s tokenizer, vocab %lld)", ids.size(), tok->kind().c_str(),
                     (long long)tok->vocab_size()));
}

void run_inspect_data(InspectDataArgs& o) {
  ResolvedModel rm = resolve_model(o.model);
  auto tok = load_tokenizer(rm.dir);
  TrainingData d = load_training_data(*tok, o.data, resolve_training_source(o.data));
  log::out(format_table("training data for " + rm.dir, d.summary(d.size())));
  if (o.output.empty()) return;
  std::vector<int64_t> all(size_t(d.size()));
  std::iota(all.begin(), all.end(), 0);
  write_safetensors(o.output, {{"input_ids", d.gather(all).to(torch::kInt32)}});
  log::out(strformat("wrote %lld blocks to %s", (long long)d.size(), o.output.c_str()));
}

}  // namespace leap
