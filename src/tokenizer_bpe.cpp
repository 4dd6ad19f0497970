// tokenizer_bpe.cpp — HF tokenizer.json byte-level BPE (GPT-2 / Llama 3 / Qwen2 family).
//
// Pipeline, as HF tokenizers runs it: split the text on added tokens (leftmost-longest, with
// lstrip/rstrip) → normalizer on the remaining segments (NFC or none) → pre-tokenizer (Split with
// a regex, behaviour Isolated, then ByteLevel's byte→char map; or ByteLevel alone with GPT-2's
// regex) → BPE merges by rank on each pre-token (whole-word lookup first when ignore_merges) →
// post-processor template (e.g. <|begin_of_text|> in front).
// Not supported (clear error): WordPiece/Unigram models, non-byte-level BPE, other normalizers.
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "leap/error.h"
#include "leap/fs_util.h"
#include "leap/regex.h"
#include "leap/tokenizer.h"
#include "leap/unicode.h"
#include "leap/json_input.h"

namespace leap {
using json = nlohmann::json;

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& tokenizer_json, const json& tok_config);

namespace {

const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 + n.
std::vector<uint32_t> byte_to_char_table() {
  std::vector<uint32_t> t(256, 0);
  std::vector<bool> direct(256, false);
  for (int b = '!'; b <= '~'; ++b) direct[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
  uint32_t n = 0;
  for (int b = 0; b < 256; ++b) t[b] = direct[b] ? uint32_t(b) : 256 + n++;
  return t;
}

struct AddedToken {
  std::string content;
  int64_t id;
  bool lstrip = false, rstrip = false, special = false;
};

struct SplitStep {
  std::unique_ptr<Regex> regex;  // null: literal string pattern
  std::vector<uint32_t> literal;
  std::string behavior;  // Isolated | Removed | MergedWithPrevious | MergedWithNext
  bool invert = false;
};

class BpeTokenizer : public Tokenizer {
 public:
  BpeTokenizer(const std::string& path, const json& tj, const json& cfg) : path_(path) {
    const char* p = path.c_str();
    const json& model = tj.at("model");
    if (!model.is_object() || model.value("type", "BPE") != "BPE")
      fail("%s: tokenizer model type \"%s\" is not supported (byte-level BPE only)", p,
           model.is_object() ? model.value("type", "?").c_str() : "?");
    if (model.value("byte_fallback", false))
      fail("%s: byte_fallback BPE is not supported by the byte-level tokenizer; use tokenizer.model", p);
    ignore_merges_ = model.value("ignore_merges", false);
    const json& vocab = model.at("vocab");
    if (!vocab.is_object()) fail("%s: model.vocab is not an object", p);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
        fail("%s: vocab id of \"%s\" is not a non-negative integer", p, it.key().c_str());
      int64_t id = it.value().get<int64_t>();
      if (id > (1 << 26)) fail("%s: vocab id %lld is implausibly large", p, (long long)id);
      vocab_[it.key()] = id;
      if (int64_t(id_to_piece_.size()) <= id) id_to_piece_.resize(size_t(id) + 1);
      id_to_piece_[size_t(id)] = it.key();
    }
    const json& merges = model.at("merges");
    if (!merges.is_array()) fail("%s: model.merges is not an array", p);
    int rank = 0;
    for (const json& m : merges) {
      std::string a, b;
      if (m.is_string()) {
        std::string s = m.get<std::string>();
        size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) fail("%s: merge \"%s\" is not \"A B\"", p, s.c_str());
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        fail("%s: merges[%d] is neither \"A B\" nor [A, B]", p, rank);
      }
      auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
      if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
        fail("%s: merges[%d] \"%s %s\" refers to tokens not in the vocabulary", p, rank, a.c_str(), b.c_str());
      uint64_t key = (uint64_t(ia->second) << 32) | uint64_t(ib->second);
      merges_.emplace(key, std::make_pair(rank, iab->second));  // first occurrence wins
      ++rank;
    }
    byte_char_ = byte_to_char_table();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      unicode::append_utf8(s, byte_char_[b]);
      auto it = vocab_.find(s);
      if (it == vocab_.end()) fail("%s: byte-level vocabulary lacks the symbol for byte 0x%02X", p, b);
      byte_id_[b] = it->second;
      char_to_byte_[byte_char_[b]] = uint8_t(b);
    }
    parse_added(tj);
    parse_normalizer(tj.contains("normalizer") ? tj["normalizer"] : json());
    parse_pre_tokenizer(tj.contains("pre_tokenizer") ? tj["pre_tokenizer"] : json());
    parse_post_processor(tj.contains("post_processor") ? tj["post_processor"] : json());
    apply_config(cfg);
  }

  std::string kind() const override { return "bpe"; }
  int64_t vocab_size() const override { return int64_t(id_to_piece_.size()); }
  std::string piece(int64_t id) const override {
    if (id < 0 || id >= int64_t(id_to_piece_.size())) fail("%s: token id %lld out of range", path_.c_str(), (long long)id);
    return id_to_piece_[size_t(id)];
  }

  std::vector<int64_t> encode(const std::string& text, bool add_special) const override {
    std::vector<int64_t> out;
    if (add_special) out = prefix_;
    std::vector<uint32_t> cps = unicode::decode_utf8(text);
    // 1. split on added tokens
    size_t pos = 0, seg_start = 0;
    std::vector<std::pair<size_t, size_t>> segs;  // plain segments
    std::vector<int64_t> specials;                // ids between segments
    while (pos < cps.size()) {
      const AddedToken* best = nullptr;
      size_t best_len = 0;
      auto it = added_by_first_.find(cps[pos]);
      if (it != added_by_first_.end()) {
        for (const auto& at : it->second) {
          const auto& c = at.first;
          if (c.size() > best_len && pos + c.size() <= cps.size() && std::equal(c.begin(), c.end(), cps.begin() + long(pos))) {
            best = at.second;
            best_len = c.size();
          }
        }
      }
      if (!best) {
        ++pos;
        continue;
      }
      size_t seg_end = pos;
      if (best->lstrip)
        while (seg_end > seg_start && unicode::is_white_space(cps[seg_end - 1])) --seg_end;
      segs.emplace_back(seg_start, seg_end);
      specials.push_back(best->id);
      pos += best_len;
      if (best->rstrip)
        while (pos < cps.size() && unicode::is_white_space(cps[pos])) ++pos;
      seg_start = pos;
    }
    segs.emplace_back(seg_start, cps.size());
    for (size_t i = 0; i < segs.size(); ++i) {
      encode_segment(std::vector<uint32_t>(cps.begin() + long(segs[i].first), cps.begin() + long(segs[i].second)), out);
      if (i < specials.size()) out.push_back(specials[i]);
    }
    if (add_special) out.insert(out.end(), suffix_.begin(), suffix_.end());
    return out;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    for (int64_t id : ids) {
      auto a = added_by_id_.find(id);
      if (a != added_by_id_.end()) {
        out += a->second;
        continue;
      }
      for (uint32_t c : unicode::decode_utf8(piece(id))) {
        auto b = char_to_byte_.find(c);
        if (b != char_to_byte_.end()) out.push_back(char(b->second));
        else unicode::append_utf8(out, c);
      }
    }
    return out;
  }

 private:
  std::string path_;
  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_to_piece_;
  std::unordered_map<uint64_t, std::pair<int, int64_t>> merges_;  // (a,b) → (rank, merged id)
  bool ignore_merges_ = false;
  std::vector<uint32_t> byte_char_;
  int64_t byte_id_[256];
  std::unordered_map<uint32_t, uint8_t> char_to_byte_;
  std::vector<AddedToken> added_;
  std::unordered_map<uint32_t, std::vector<std::pair<std::vector<uint32_t>, const AddedToken*>>> added_by_first_;
  std::unordered_map<int64_t, std::string> added_by_id_;
  bool nfc_ = false;
  std::vector<SplitStep> splits_;
  bool byte_level_ = false;
  bool add_prefix_space_ = false;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;

  void parse_added(const json& tj) {
    if (!tj.contains("added_tokens") || tj["added_tokens"].is_null()) return;
    if (!tj["added_tokens"].is_array()) fail("%s: added_tokens is not an array", path_.c_str());
    for (const json& a : tj["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a.contains("content") || !a["id"].is_number_integer() ||
          !a["content"].is_string())
        fail("%s: an added_tokens entry lacks an integer id or a string content", path_.c_str());
      AddedToken t;
      t.id = a["id"].get<int64_t>();
      t.content = a["content"].get<std::string>();
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.special = a.value("special", false);
      if (t.content.empty()) continue;
      added_.push_back(t);
    }
    for (const auto& t : added_) {
      std::vector<uint32_t> c = unicode::decode_utf8(t.content);
      added_by_first_[c[0]].emplace_back(c, &t);
      added_by_id_[t.id] = t.content;
      if (int64_t(id_to_piece_.size()) <= t.id) id_to_piece_.resize(size_t(t.id) + 1);
      id_to_piece_[size_t(t.id)] = t.content;
      vocab_[t.content] = t.id;
    }
  }

  void parse_normalizer(const json& n) {
    if (n.is_null()) return;
    std::string type = n.value("type", "");
    if (type == "NFC") {
      nfc_ = true;
    } else if (type == "Sequence") {
      for (const json& s : n.at("normalizers")) parse_normalizer(s);
    } else {
      fail("%s: normalizer \"%s\" is not supported (supported: NFC, none)", path_.c_str(), type.c_str());
    }
  }

  void parse_pre_tokenizer(const json& pt) {
    if (pt.is_null()) return;
    std::string type = pt.value("type", "");
    if (type == "Sequence") {
      for (const json& s : pt.at("pretokenizers")) parse_pre_tokenizer(s);
    } else if (type == "Split") {
      SplitStep s;
      const json& pat = pt.at("pattern");
      if (pat.contains("Regex")) s.regex = std::make_unique<Regex>(pat["Regex"].get<std::string>());
      else if (pat.contains("String")) s.literal = unicode::decode_utf8(pat["String"].get<std::string>());
      else fail("%s: Split pattern must be {\"Regex\": ...} or {\"String\": ...}", path_.c_str());
      s.behavior = pt.value("behavior", "Isolated");
      s.invert = pt.value("invert", false);
      if (s.behavior != "Isolated" && s.behavior != "Removed" && s.behavior != "MergedWithPrevious" &&
          s.behavior != "MergedWithNext")
        fail("%s: Split behavior \"%s\" is not supported", path_.c_str(), s.behavior.c_str());
      if (s.invert) fail("%s: inverted Split patterns are not supported", path_.c_str());
      splits_.push_back(std::move(s));
    } else if (type == "ByteLevel") {
      byte_level_ = true;
      add_prefix_space_ = pt.value("add_prefix_space", false);
      if (pt.value("use_regex", true)) {
        SplitStep s;
        s.regex = std::make_unique<Regex>(kGpt2Pattern);
        s.behavior = "Isolated";
        splits_.push_back(std::move(s));
      }
    } else if (type == "Digits") {
      SplitStep s;
      s.regex = std::make_unique<Regex>(pt.value("individual_digits", false) ? "\\p{Nd}" : "\\p{Nd}+");
      s.behavior = "Isolated";
      splits_.push_back(std::move(s));
    } else {
      fail("%s: pre_tokenizer \"%s\" is not supported (Split, ByteLevel, Digits, Sequence)", path_.c_str(), type.c_str());
    }
  }

  void parse_post_processor(const json& pp) {
    if (pp.is_null()) return;
    std::string type = pp.value("type", "");
    if (type == "Sequence") {
      for (const json& s : pp.at("processors")) parse_post_processor(s);
    } else if (type == "ByteLevel") {
    } else if (type == "TemplateProcessing") {
      prefix_.clear();
      suffix_.clear();
      bool seen_seq = false;
      for (const json& item : pp.at("single")) {
        if (item.contains("Sequence")) {
          seen_seq = true;
        } else if (item.contains("SpecialToken")) {
          std::string name = item["SpecialToken"].at("id").get<std::string>();
          const json& st = pp.at("special_tokens").at(name);
          for (const json& id : st.at("ids")) (seen_seq ? suffix_ : prefix_).push_back(id.get<int64_t>());
        }
      }
    } else {
      fail("%s: post_processor \"%s\" is not supported", path_.c_str(), type.c_str());
    }
  }

  std::optional<int64_t> token_id(const json& cfg, const char* key) const {
    if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
    std::string content = cfg[key].is_string() ? cfg[key].get<std::string>()
                          : (cfg[key].is_object() ? cfg[key].value("content", "") : "");
    auto it = vocab_.find(content);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }

  void apply_config(const json& cfg) {
    bos_id_ = token_id(cfg, "bos_token");
    eos_id_ = token_id(cfg, "eos_token");
    // transformers' fast tokenizers rebuild the template when add_bos_token / add_eos_token are set
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean() && bos_id_) {
      bool want = cfg["add_bos_token"].get<bool>();
      bool has = !prefix_.empty() && prefix_.front() == *bos_id_;
      if (want && !has) prefix_.insert(prefix_.begin(), *bos_id_);
      if (!want && has) prefix_.erase(prefix_.begin());
    }
    if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean() && eos_id_) {
      bool want = cfg["add_eos_token"].get<bool>();
      bool has = !suffix_.empty() && suffix_.back() == *eos_id_;
      if (want && !has) suffix_.push_back(*eos_id_);
      if (!want && has) suffix_.pop_back();
    }
  }

  // Applies the Split steps in order, each on every piece produced so far.
  std::vector<std::vector<uint32_t>> pre_tokenize(const std::vector<uint32_t>& text) const {
    std::vector<std::vector<uint32_t>> pieces{text};
    for (const SplitStep& s : splits_) {
      std::vector<std::vector<uint32_t>> next;
      for (const auto& pc : pieces) {
        std::vector<std::pair<size_t, size_t>> matches;
        size_t start = 0;
        while (start <= pc.size()) {
          size_t b, e;
          if (s.regex) {
            if (!s.regex->search(pc, start, b, e)) break;
          } else {
            if (s.literal.empty()) break;
            auto it = std::search(pc.begin() + long(start), pc.end(), s.literal.begin(), s.literal.end());
            if (it == pc.end()) break;
            b = size_t(it - pc.begin());
            e = b + s.literal.size();
          }
          if (e == b) {  // empty match: skip a character (HF ignores empty matches)
            start = b + 1;
            continue;
          }
          matches.emplace_back(b, e);
          start = e;
        }
        // HF SplitDelimiterBehavior over the match/non-match pieces
        std::vector<std::pair<std::pair<size_t, size_t>, bool>> parts;  // (range, is_match)
        size_t prev = 0;
        for (auto& m : matches) {
          if (m.first > prev) parts.push_back({{prev, m.first}, false});
          parts.push_back({m, true});
          prev = m.second;
        }
        if (prev < pc.size()) parts.push_back({{prev, pc.size()}, false});
        std::vector<std::pair<size_t, size_t>> out;
        for (size_t i = 0; i < parts.size(); ++i) {
          auto [r, is_m] = parts[i];
          if (s.behavior == "Isolated") out.push_back(r);
          else if (s.behavior == "Removed") {
            if (!is_m) out.push_back(r);
          } else if (s.behavior == "MergedWithPrevious") {
            if (is_m && !out.empty()) out.back().second = r.second;
            else out.push_back(r);
          } else {  // MergedWithNext
            if (!out.empty() && parts[i - 1].second && !is_m) out.back().second = r.second;
            else out.push_back(r);
          }
        }
        for (auto& r : out) next.emplace_back(pc.begin() + long(r.first), pc.begin() + long(r.second));
      }
      pieces.swap(next);
    }
    return pieces;
  }

  void encode_segment(std::vector<uint32_t> seg, std::vector<int64_t>& out) const {
    if (seg.empty()) return;
    if (nfc_) seg = unicode::nfc(seg);
    if (add_prefix_space_ && !seg.empty() && seg[0] != ' ') seg.insert(seg.begin(), ' ');
    for (const auto& pc : pre_tokenize(seg)) {
      if (pc.empty()) continue;
      std::string bytes = unicode::encode_utf8(pc);
      bpe_word(bytes, out);
    }
  }

  void bpe_word(const std::string& bytes, std::vector<int64_t>& out) const {
    auto c = cache_.find(bytes);
    if (c != cache_.end()) {
      out.insert(out.end(), c->second.begin(), c->second.end());
      return;
    }
    std::vector<int64_t> ids;
    std::string mapped;
    for (unsigned char b : bytes) unicode::append_utf8(mapped, byte_char_[b]);
    auto whole = ignore_merges_ ? vocab_.find(mapped) : vocab_.end();
    if (whole != vocab_.end()) {
      ids.push_back(whole->second);
    } else {
      for (unsigned char b : bytes) ids.push_back(byte_id_[b]);
      while (ids.size() > 1) {  // merge the lowest-ranked adjacent pair, leftmost first
        int best_rank = INT32_MAX;
        size_t best_i = 0;
        int64_t best_id = -1;
        for (size_t i = 0; i + 1 < ids.size(); ++i) {
          auto m = merges_.find((uint64_t(ids[i]) << 32) | uint64_t(ids[i + 1]));
          if (m != merges_.end() && m->second.first < best_rank) {
            best_rank = m->second.first;
            best_i = i;
            best_id = m->second.second;
          }
        }
        if (best_id < 0) break;
        ids[best_i] = best_id;
        ids.erase(ids.begin() + long(best_i) + 1);
      }
    }
    if (cache_.size() < 200000) cache_.emplace(bytes, ids);
    out.insert(out.end(), ids.begin(), ids.end());
  }
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& path, const json& cfg) {
  json tj;
  try {
    tj = parse_json_checked(read_file(path), path);
  } catch (const json::exception& e) {
    fail("%s: not valid JSON: %s", path.c_str(), e.what());
  }
  if (!tj.is_object() || !tj.contains("model")) fail("%s: no \"model\" section", path.c_str());
  try {
    return std::make_unique<BpeTokenizer>(path, tj, cfg);
  } catch (const json::exception& e) {
    fail("%s: malformed tokenizer.json: %s", path.c_str(), e.what());
  }
}

}  // namespace leap
