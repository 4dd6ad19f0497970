// options.h — one options struct per subcommand, the single source of truth for its flags.
//
// Each struct lists its fields once, in visit(V&): v(name, field, help). The same list drives
// CLI11 parsing and --help (main.cpp), the start-up config table, and the "config" object stored
// in every output JSON (config_table / config_json below). Torch-free.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace leap {

struct InspectLogitsOptions {
  std::string model;
  std::string input_ids;  // JSON list of equal-length token-id lists
  std::string output;     // .safetensors with one float32 tensor "logits" [batch, seq, vocab]
  std::string dtype = "float32";
  std::string device = "auto";
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("input_ids", input_ids, "JSON file: a list of equal-length lists of token ids", true);
    v("output", output, "output .safetensors file (tensor \"logits\", float32, [batch, seq, vocab])", true);
    v("dtype", dtype, "model dtype: float32 | bfloat16 | float16", false);
    v("device", device, "cpu | cuda | cuda:N | auto", false);
  }
};

struct InspectModelOptions {
  std::string model;
  std::string dtype = "float32";
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("dtype", dtype, "model dtype: float32 | bfloat16 | float16", false);
  }
};

struct InspectTokenizeOptions {
  std::string model;
  std::string text;
  bool no_special = false;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("text", text, "text to tokenize", true);
    v("no_special", no_special, "do not add the tokenizer's default special tokens (BOS/EOS)", false);
  }
};

// ---- visitors shared by every options struct ----
namespace detail {
inline std::string to_display(const std::string& s) { return s.empty() ? "-" : s; }
inline std::string to_display(bool b) { return b ? "true" : "false"; }
template <class T>
std::string to_display(const T& x) {
  return nlohmann::json(x).dump();
}
struct TableVisitor {
  std::vector<std::pair<std::string, std::string>> rows;
  template <class T>
  void operator()(const char* name, const T& field, const char*, bool) {
    rows.emplace_back(name, to_display(field));
  }
};
struct JsonVisitor {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  template <class T>
  void operator()(const char* name, const T& field, const char*, bool) {
    j[name] = field;
  }
};
}  // namespace detail

// Boxed two-column table of the effective configuration (llm.c style).
std::string format_table(const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows);

template <class Opts>
std::string config_table(const std::string& title, Opts& o) {
  detail::TableVisitor v;
  o.visit(v);
  return format_table(title, v.rows);
}
template <class Opts>
nlohmann::ordered_json config_json(Opts& o) {
  detail::JsonVisitor v;
  o.visit(v);
  return v.j;
}

}  // namespace leap
