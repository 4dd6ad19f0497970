// tokenizer.cpp — picks the tokenizer implementation for a model folder (see tokenizer.h).
#include "text/tokenizer.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"

namespace leap {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& path, const json& cfg);
std::unique_ptr<Tokenizer> make_sp_tokenizer(const std::string& path, const json& cfg);

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  json cfg = json::object();
  fs::path cfg_path = fs::path(dir) / "tokenizer_config.json";
  if (file_exists(cfg_path.string())) {
    cfg = read_json_file(cfg_path.string());
    if (!cfg.is_object()) fail("%s: top level is not a JSON object", cfg_path.string().c_str());
  }
  fs::path tj = fs::path(dir) / "tokenizer.json";
  fs::path spm = fs::path(dir) / "tokenizer.model";
  if (file_exists(tj.string())) {
    // Byte-level BPE files have a ByteLevel pre-tokenizer or decoder; SentencePiece conversions
    // (Gemma) do not, and are read from tokenizer.model instead when it is present.
    std::string text = read_file(tj.string());
    bool byte_level = text.find("\"ByteLevel\"") != std::string::npos;
    if (byte_level || !file_exists(spm.string())) return make_bpe_tokenizer(tj.string(), cfg);
  }
  if (file_exists(spm.string())) return make_sp_tokenizer(spm.string(), cfg);
  fail("%s: no tokenizer.json or tokenizer.model in this folder", dir.c_str());
}

}  // namespace leap
