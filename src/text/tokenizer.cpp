// tokenizer.cpp — picks the tokenizer implementation for a model folder (see tokenizer.h).
#include "text/tokenizer.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "base/sha256.h"

namespace leap {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& path, const json& cfg);
std::unique_ptr<Tokenizer> make_sp_tokenizer(const std::string& path, const json& cfg);

namespace {
// Bump when a change to leap's tokenizers changes the ids of some text (token caches are keyed by it).
constexpr const char* kTokenizerRevision = "leap-tokenizer-1";

std::string files_sha256(const fs::path& file, const fs::path& cfg) {
  Sha256 h;
  h.update(kTokenizerRevision, std::strlen(kTokenizerRevision));
  for (const fs::path& f : {file, cfg}) {
    std::string bytes = file_exists(f.string()) ? read_file(f.string()) : std::string();
    std::string head = f.filename().string() + ":" + std::to_string(bytes.size()) + ":";
    h.update(head.data(), head.size());
    h.update(bytes.data(), bytes.size());
  }
  return h.hex_digest();
}
}  // namespace

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
    if (byte_level || !file_exists(spm.string())) {
      std::unique_ptr<Tokenizer> t = make_bpe_tokenizer(tj.string(), cfg);
      t->fingerprint_ = files_sha256(tj, cfg_path);
      return t;
    }
  }
  if (file_exists(spm.string())) {
    std::unique_ptr<Tokenizer> t = make_sp_tokenizer(spm.string(), cfg);
    t->fingerprint_ = files_sha256(spm, cfg_path);
    return t;
  }
  fail("%s: no tokenizer.json or tokenizer.model in this folder", dir.c_str());
}

}  // namespace leap
