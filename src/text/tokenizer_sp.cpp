// tokenizer_sp.cpp — SentencePiece tokenizer.model (stories260k, Gemma) through libsentencepiece.
//
// HF transformers converts these models to `tokenizers` pipelines that (a) split the text on
// special tokens first, and (b) never collapse whitespace runs, whatever the model's
// normalizer_spec says. To give HF's ids, leap edits the serialized ModelProto before loading it
// (remove_extra_whitespaces = false) and splits on special tokens itself; the dummy prefix ("▁" in
// front) follows the model's own add_dummy_prefix flag, applied to the first segment only unless
// tokenizer_config.json asks for legacy behaviour (then to every segment, as HF's legacy Llama).
#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "text/tokenizer.h"

namespace leap {
using json = nlohmann::json;

std::unique_ptr<Tokenizer> make_sp_tokenizer(const std::string& model_path, const json& cfg);

namespace {

// ---- minimal protobuf wire-format editing ----------------------------------------------------
bool read_varint(const std::string& s, size_t& i, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (i >= s.size()) return false;
    uint8_t b = uint8_t(s[i++]);
    v |= uint64_t(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
void write_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}
struct Field {
  uint32_t number;
  uint32_t wire;
  std::string raw;  // the whole encoded field (key + payload)
  std::string payload;
};
std::vector<Field> parse_fields(const std::string& s, const std::string& path) {
  std::vector<Field> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    uint64_t key;
    if (!read_varint(s, i, key)) fail("%s: malformed sentencepiece model (bad field key)", path.c_str());
    Field f;
    f.number = uint32_t(key >> 3);
    f.wire = uint32_t(key & 7);
    size_t pstart = i;
    uint64_t v;
    switch (f.wire) {
      case 0:
        if (!read_varint(s, i, v)) fail("%s: malformed sentencepiece model (bad varint)", path.c_str());
        break;
      case 1:
        i += 8;
        break;
      case 5:
        i += 4;
        break;
      case 2:
        if (!read_varint(s, i, v) || v > s.size() - i)
          fail("%s: malformed sentencepiece model (bad length)", path.c_str());
        pstart = i;
        i += size_t(v);
        break;
      default:
        fail("%s: malformed sentencepiece model (wire type %u)", path.c_str(), f.wire);
    }
    if (i > s.size()) fail("%s: malformed sentencepiece model (truncated)", path.c_str());
    f.raw = s.substr(start, i - start);
    f.payload = s.substr(pstart, i - pstart);
    out.push_back(std::move(f));
  }
  return out;
}

// Returns the ModelProto with normalizer_spec.remove_extra_whitespaces = false and
// add_dummy_prefix = false; reports the original add_dummy_prefix (default true).
std::string patch_model(const std::string& proto, const std::string& path, bool& add_dummy_prefix) {
  add_dummy_prefix = true;
  std::string out;
  bool seen = false;
  for (const Field& f : parse_fields(proto, path)) {
    if (f.number != 3 || f.wire != 2) {
      out += f.raw;
      continue;
    }
    seen = true;
    std::string norm;
    for (const Field& g : parse_fields(f.payload, path)) {
      if (g.number == 3 && g.wire == 0) {
        size_t i = 0;
        uint64_t v = 1;
        read_varint(g.payload, i, v);
        add_dummy_prefix = v != 0;
      }
      if (g.number == 3 || g.number == 4) continue;  // replaced below
      norm += g.raw;
    }
    norm += std::string("\x18\x00\x20\x00", 4);  // add_dummy_prefix = false, remove_extra_whitespaces = false
    write_varint(out, (3u << 3) | 2u);
    write_varint(out, norm.size());
    out += norm;
  }
  if (!seen) {
    std::string norm("\x18\x00\x20\x00", 4);
    write_varint(out, (3u << 3) | 2u);
    write_varint(out, norm.size());
    out += norm;
  }
  return out;
}

// A key of tokenizer_config.json's added_tokens_decoder: decimal digits only, and an id the
// SentencePiece library can hold (int32), checked before it is used.
int64_t added_id(const std::string& key, const std::string& cfg_file) {
  const bool digits = !key.empty() && key.size() <= 10 && key.find_first_not_of("0123456789") == std::string::npos;
  const int64_t id = digits ? std::stoll(key) : -1;  // ten digits fit in int64
  if (id < 0 || id > INT32_MAX)
    fail("%s: added_tokens_decoder key \"%s\" is not a token id (0 to 2147483647)", cfg_file.c_str(), key.c_str());
  return id;
}

class SpTokenizer : public Tokenizer {
 public:
  SpTokenizer(const std::string& path, const json& cfg) : path_(path) {
    std::string proto = patch_model(read_file(path), path, dummy_prefix_);
    auto st = sp_.LoadFromSerializedProto(proto);
    if (!st.ok()) fail("%s: cannot load sentencepiece model: %s", path.c_str(), st.ToString().c_str());
    legacy_ = cfg.contains("legacy") && cfg["legacy"].is_boolean() ? cfg["legacy"].get<bool>() : true;
    int bos = sp_.bos_id(), eos = sp_.eos_id();
    if (bos >= 0) bos_id_ = bos;
    if (eos >= 0) eos_id_ = eos;
    bool add_bos =
        cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean() ? cfg["add_bos_token"].get<bool>() : true;
    bool add_eos =
        cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean() ? cfg["add_eos_token"].get<bool>() : false;
    if (add_bos && bos_id_) prefix_.push_back(*bos_id_);
    if (add_eos && eos_id_) suffix_.push_back(*eos_id_);
    // special tokens matched in the text: control and user-defined pieces, plus tokenizer_config's added tokens
    for (int i = 0; i < sp_.GetPieceSize(); ++i)
      if (sp_.IsControl(i)) {
        std::string p = sp_.IdToPiece(i);
        if (!p.empty()) specials_.emplace_back(p, i);
      }
    if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
      const std::string cfg_file = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
      for (auto it = cfg["added_tokens_decoder"].begin(); it != cfg["added_tokens_decoder"].end(); ++it)
        if (it.value().is_object() && it.value().contains("content") && it.value()["content"].is_string())
          specials_.emplace_back(it.value()["content"].get<std::string>(), added_id(it.key(), cfg_file));
    }
  }

  std::string kind() const override { return "sentencepiece"; }
  int64_t vocab_size() const override { return sp_.GetPieceSize(); }
  std::string piece(int64_t id) const override {
    if (id < 0 || id >= sp_.GetPieceSize()) fail("%s: token id %lld out of range", path_.c_str(), (long long)id);
    return sp_.IdToPiece(int(id));
  }

  std::vector<int64_t> encode(const std::string& text, bool add_special) const override {
    std::vector<int64_t> out;
    if (add_special) out = prefix_;
    size_t pos = 0, seg = 0;
    bool first = true;
    while (pos <= text.size()) {
      const std::pair<std::string, int64_t>* best = nullptr;
      if (pos < text.size())
        for (const auto& sp : specials_)
          if (text.compare(pos, sp.first.size(), sp.first) == 0 && (!best || sp.first.size() > best->first.size()))
            best = &sp;
      if (!best && pos < text.size()) {
        ++pos;
        continue;
      }
      encode_segment(text.substr(seg, pos - seg), first, out);
      first = false;
      if (!best) break;
      out.push_back(best->second);
      pos += best->first.size();
      seg = pos;
    }
    if (add_special) out.insert(out.end(), suffix_.begin(), suffix_.end());
    return out;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::vector<int> v(ids.begin(), ids.end());
    std::string out;
    sp_.Decode(v, &out);
    // the model's dummy prefix is off in the edited proto, so drop the leading space it stood for
    if (dummy_prefix_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
  bool dummy_prefix_ = true;
  bool legacy_ = true;
  std::vector<std::pair<std::string, int64_t>> specials_;

  void encode_segment(const std::string& s, bool first, std::vector<int64_t>& out) const {
    if (s.empty()) return;
    // The library's own dummy prefix is switched off in the proto; a leading space (which the
    // model escapes to "▁") stands in for it where HF would prepend one.
    std::vector<int> ids;
    // HF's Metaspace prepends "▁" only to text that does not already start with one.
    bool prefix = dummy_prefix_ && (first || legacy_) && s[0] != ' ';
    sp_.Encode(prefix ? " " + s : s, &ids);
    out.insert(out.end(), ids.begin(), ids.end());
  }
};

}  // namespace

std::unique_ptr<Tokenizer> make_sp_tokenizer(const std::string& model_path, const json& cfg) {
  return std::make_unique<SpTokenizer>(model_path, cfg);
}

}  // namespace leap
