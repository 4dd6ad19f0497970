// tokenizer_bpe.cpp — HF tokenizer.json byte-level BPE (GPT-2 / Llama 3 / Qwen2 family).
//
// Pipeline, as HF tokenizers runs it: split the text on added tokens (leftmost-longest, with
// lstrip/rstrip) → normalizer on the remaining segments (NFC or none) → pre-tokenizer (Split with
// a regex, behaviour Isolated, then ByteLevel's byte→char map; or ByteLevel alone with GPT-2's
// regex) → BPE merges by rank on each pre-token (whole-word lookup first when ignore_merges) →
// post-processor template (e.g. <|begin_of_text|> in front).
// Not supported (clear error): WordPiece/Unigram models, non-byte-level BPE, other normalizers.
#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "text/regex.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace leap {
using json = nlohmann::json;

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& tokenizer_json, const json& tok_config);

namespace {

uint64_t next_tokenizer_id() {
  static std::atomic<uint64_t> n{0};
  return ++n;
}
// A thread's BPE results for the words it has seen (bounded), for one tokenizer at a time.
struct WordCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<int64_t>> words;
};

const char* kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

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

// Typed reads of tokenizer.json fields. Every error names the file and the field's JSON path
// (e.g. "added_tokens[3].id") and says what is wrong with it.
class Fields {
 public:
  explicit Fields(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }
  [[noreturn]] void bad(const std::string& field, const std::string& problem) const {
    fail("%s: %s %s", file_.c_str(), field.c_str(), problem.c_str());
  }
  static std::string at(const std::string& parent, const char* key) {
    return parent.empty() ? key : parent + "." + key;
  }
  static std::string at(const std::string& parent, size_t i) { return parent + "[" + std::to_string(i) + "]"; }
  // The member, or nullptr when it is absent or null.
  const json* find(const json& obj, const std::string& where, const char* key) const {
    if (!obj.is_object()) bad(where.empty() ? "top level" : where, "is not an object");
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  const json& need(const json& obj, const std::string& where, const char* key) const {
    const json* v = find(obj, where, key);
    if (!v) bad(at(where, key), "is missing");
    return *v;
  }
  const json& array(const json& obj, const std::string& where, const char* key) const {
    const json& v = need(obj, where, key);
    if (!v.is_array()) bad(at(where, key), "is not an array");
    return v;
  }
  bool boolean(const json& obj, const std::string& where, const char* key, bool def) const {
    const json* v = find(obj, where, key);
    if (!v) return def;
    if (!v->is_boolean()) bad(at(where, key), "must be true or false");
    return v->get<bool>();
  }
  std::string string(const json& obj, const std::string& where, const char* key, const char* def = nullptr) const {
    const json* v = find(obj, where, key);
    if (!v) {
      if (!def) bad(at(where, key), "is missing");
      return def;
    }
    if (!v->is_string()) bad(at(where, key), "must be a string");
    return v->get<std::string>();
  }
  // A token id: HF tokenizers reads ids as unsigned 32-bit integers and rejects anything else, so
  // leap does too, before anything is sized from it.
  int64_t id(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) bad(field, "must be an integer token id");
    if (v.is_number_unsigned() ? v.get<uint64_t>() > kMaxId
                               : (v.get<int64_t>() < 0 || v.get<int64_t>() > int64_t(kMaxId)))
      bad(field, "= " + v.dump() + " is not a token id (0 to 4294967295, as HF tokenizers' u32)");
    return v.get<int64_t>();
  }
  static constexpr uint64_t kMaxId = 0xFFFFFFFFull;

 private:
  std::string file_;
};

struct AddedToken {
  std::string content;
  int64_t id;
  bool lstrip = false, rstrip = false, single_word = false;
};

struct SplitStep {
  std::unique_ptr<Regex> regex;  // null: literal string pattern
  std::vector<uint32_t> literal;
  std::string behavior;  // Isolated | Removed | MergedWithPrevious | MergedWithNext | Contiguous
  bool invert = false;
};

// HF's word characters for single_word added tokens: Rust's char::is_alphanumeric, or '_'.
bool is_word_char(uint32_t c) {
  return c == '_' || unicode::in_category(c, "L") || unicode::in_category(c, "N");
}

class BpeTokenizer : public Tokenizer {
 public:
  BpeTokenizer(const std::string& path, const json& tj, const json& cfg) : f_(path) {
    const json& model = f_.need(tj, "", "model");
    parse_model(model);
    parse_added(tj);
    const json* n = f_.find(tj, "", "normalizer");
    if (n) parse_normalizer(*n, "normalizer");
    const json* pt = f_.find(tj, "", "pre_tokenizer");
    if (pt) parse_pre_tokenizer(*pt, "pre_tokenizer");
    const json* pp = f_.find(tj, "", "post_processor");
    if (pp) parse_post_processor(*pp, "post_processor");
    apply_config(cfg);
  }

  std::string kind() const override { return "bpe"; }
  int64_t vocab_size() const override { return max_id_ + 1; }
  std::string piece(int64_t id) const override {
    auto it = id_to_piece_.find(id);
    if (it == id_to_piece_.end()) fail("%s: token id %lld is not in the vocabulary", f_.file().c_str(), (long long)id);
    return it->second;
  }

  std::vector<int64_t> encode(const std::string& text, bool add_special) const override {
    std::vector<int64_t> out;
    if (add_special) out = prefix_;
    std::vector<uint32_t> cps = unicode::decode_utf8(text);
    // 1. split on added tokens: leftmost-longest, non-overlapping (HF's aho-corasick pass)
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
          if (c.size() > best_len && pos + c.size() <= cps.size() &&
              std::equal(c.begin(), c.end(), cps.begin() + long(pos))) {
            best = at.second;
            best_len = c.size();
          }
        }
      }
      if (!best) {
        ++pos;
        continue;
      }
      if (best->single_word && ((pos > 0 && is_word_char(cps[pos - 1])) ||
                                (pos + best_len < cps.size() && is_word_char(cps[pos + best_len])))) {
        pos += best_len;  // not a whole word: HF discards the match and scans on after it
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
        if (b != char_to_byte_.end())
          out.push_back(char(b->second));
        else
          unicode::append_utf8(out, c);
      }
    }
    return out;
  }

 private:
  Fields f_;                                              // the file and its field paths, for errors
  std::unordered_map<std::string, int64_t> vocab_;        // model vocabulary, then added tokens
  std::unordered_map<int64_t, std::string> id_to_piece_;  // sparse: ids may be any u32
  int64_t max_id_ = -1;
  std::unordered_map<uint64_t, std::pair<int, int64_t>> merges_;  // (a,b) → (rank, merged id)
  bool ignore_merges_ = false;
  std::optional<std::string> unk_token_;  // model.unk_token: stands for symbols the vocabulary lacks
  bool fuse_unk_ = false;
  std::vector<uint32_t> byte_char_;
  int64_t byte_id_[256];  // -1: the vocabulary has no symbol for this byte (HF drops it, or emits unk)
  std::unordered_map<uint32_t, uint8_t> char_to_byte_;
  std::vector<AddedToken> added_;
  std::unordered_map<uint32_t, std::vector<std::pair<std::vector<uint32_t>, const AddedToken*>>> added_by_first_;
  std::unordered_map<int64_t, std::string> added_by_id_;
  bool nfc_ = false;
  std::vector<SplitStep> splits_;
  bool add_prefix_space_ = false;
  const uint64_t id_ = next_tokenizer_id();  // keys this tokenizer's per-thread word cache

  void set_piece(int64_t id, const std::string& piece) {
    id_to_piece_[id] = piece;
    max_id_ = std::max(max_id_, id);
  }

  void parse_model(const json& model) {
    const char* p = f_.file().c_str();
    std::string type = f_.string(model, "model", "type", "BPE");
    if (type != "BPE") fail("%s: model.type \"%s\" is not supported (byte-level BPE only)", p, type.c_str());
    if (f_.boolean(model, "model", "byte_fallback", false))
      fail("%s: model.byte_fallback BPE is not supported by the byte-level tokenizer; use tokenizer.model", p);
    if (const json* d = f_.find(model, "model", "dropout")) {
      if (!d->is_number() || d->get<double>() < 0 || d->get<double>() > 1)
        f_.bad("model.dropout", "must be a number in [0, 1]");
      if (d->get<double>() > 0)
        fail("%s: model.dropout %g is not supported (BPE dropout makes tokenisation random)", p, d->get<double>());
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (!f_.string(model, "model", key, "").empty())
        fail("%s: model.%s is not supported by the byte-level tokenizer", p, key);
    ignore_merges_ = f_.boolean(model, "model", "ignore_merges", false);
    fuse_unk_ = f_.boolean(model, "model", "fuse_unk", false);
    if (f_.find(model, "model", "unk_token")) unk_token_ = f_.string(model, "model", "unk_token");
    const json& vocab = f_.need(model, "model", "vocab");
    if (!vocab.is_object()) f_.bad("model.vocab", "is not an object");
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      int64_t id = f_.id(it.value(), "model.vocab[" + json(it.key()).dump() + "]");
      vocab_[it.key()] = id;
      set_piece(id, it.key());
    }
    const json& merges = f_.array(model, "model", "merges");
    int rank = 0;
    for (const json& m : merges) {
      std::string field = Fields::at("model.merges", size_t(rank)), a, b;
      if (m.is_string()) {  // "A B": exactly one space (HF splits on ' ' into two parts)
        std::string s = m.get<std::string>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) f_.bad(field, "is not \"A B\"");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        f_.bad(field, "is neither \"A B\" nor [A, B]");
      }
      auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
      if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
        f_.bad(field, "\"" + a + " " + b + "\" refers to tokens not in the vocabulary");
      uint64_t key = (uint64_t(ia->second) << 32) | uint64_t(ib->second);
      merges_.emplace(key, std::make_pair(rank, iab->second));  // first occurrence wins
      ++rank;
    }
    byte_char_ = byte_to_char_table();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      unicode::append_utf8(s, byte_char_[b]);
      auto it = vocab_.find(s);
      byte_id_[b] = it == vocab_.end() ? -1 : it->second;
      char_to_byte_[byte_char_[b]] = uint8_t(b);
    }
  }

  // HF registers added tokens through add_tokens: the id written in the file is checked as a u32
  // and then not used. A content already known keeps its id; a new one gets the next id past the
  // model vocabulary's size (or past the largest added id once that is beyond it).
  void parse_added(const json& tj) {
    const json* list = f_.find(tj, "", "added_tokens");
    if (!list) return;
    if (!list->is_array()) f_.bad("added_tokens", "is not an array");
    const int64_t model_size = int64_t(vocab_.size());
    std::optional<int64_t> max_added;
    for (size_t i = 0; i < list->size(); ++i) {
      const json& a = (*list)[i];
      std::string at = Fields::at("added_tokens", i);
      f_.id(f_.need(a, at, "id"), at + ".id");
      AddedToken t;
      t.content = f_.string(a, at, "content");
      t.lstrip = f_.boolean(a, at, "lstrip", false);
      t.rstrip = f_.boolean(a, at, "rstrip", false);
      t.single_word = f_.boolean(a, at, "single_word", false);
      f_.boolean(a, at, "normalized", false);
      f_.boolean(a, at, "special", false);
      bool dup = t.content.empty();
      for (const auto& o : added_) dup |= o.content == t.content;
      if (dup) continue;
      auto known = vocab_.find(t.content);
      if (known != vocab_.end())
        t.id = known->second;
      else
        t.id = max_added && *max_added >= model_size ? *max_added + 1 : model_size;
      max_added = std::max(max_added.value_or(t.id), t.id);
      added_.push_back(t);
      vocab_[t.content] = t.id;
      set_piece(t.id, t.content);
    }
    for (const auto& t : added_) {
      std::vector<uint32_t> c = unicode::decode_utf8(t.content);
      added_by_first_[c[0]].emplace_back(c, &t);
      added_by_id_[t.id] = t.content;
    }
  }

  void parse_normalizer(const json& n, const std::string& at) {
    std::string type = f_.string(n, at, "type");
    if (type == "NFC") {
      nfc_ = true;
    } else if (type == "Sequence") {
      const json& list = f_.array(n, at, "normalizers");
      for (size_t i = 0; i < list.size(); ++i) parse_normalizer(list[i], Fields::at(at + ".normalizers", i));
    } else {
      fail("%s: %s.type \"%s\" is not supported (supported: NFC, none)", f_.file().c_str(), at.c_str(), type.c_str());
    }
  }

  std::unique_ptr<Regex> regex(const std::string& pattern, const std::string& field) const {
    try {
      return std::make_unique<Regex>(pattern);
    } catch (const Error& e) {
      fail("%s: %s: %s", f_.file().c_str(), field.c_str(), e.what());
    }
  }

  void parse_pre_tokenizer(const json& pt, const std::string& at) {
    std::string type = f_.string(pt, at, "type");
    if (type == "Sequence") {
      const json& list = f_.array(pt, at, "pretokenizers");
      for (size_t i = 0; i < list.size(); ++i) parse_pre_tokenizer(list[i], Fields::at(at + ".pretokenizers", i));
    } else if (type == "Split") {
      SplitStep s;
      std::string pat_at = Fields::at(at, "pattern");
      const json& pat = f_.need(pt, at, "pattern");
      if (f_.find(pat, pat_at, "Regex"))
        s.regex = regex(f_.string(pat, pat_at, "Regex"), pat_at + ".Regex");
      else if (f_.find(pat, pat_at, "String"))
        s.literal = unicode::decode_utf8(f_.string(pat, pat_at, "String"));
      else
        f_.bad(pat_at, "must be {\"Regex\": ...} or {\"String\": ...}");
      s.behavior = f_.string(pt, at, "behavior", "Isolated");
      s.invert = f_.boolean(pt, at, "invert", false);
      if (s.behavior != "Isolated" && s.behavior != "Removed" && s.behavior != "MergedWithPrevious" &&
          s.behavior != "MergedWithNext" && s.behavior != "Contiguous")
        f_.bad(at + ".behavior", "\"" + s.behavior + "\" is not a Split behavior");
      splits_.push_back(std::move(s));
    } else if (type == "ByteLevel") {
      add_prefix_space_ = f_.boolean(pt, at, "add_prefix_space", false);
      if (f_.boolean(pt, at, "use_regex", true)) {
        SplitStep s;
        s.regex = std::make_unique<Regex>(kGpt2Pattern);
        s.behavior = "Isolated";
        splits_.push_back(std::move(s));
      }
    } else if (type == "Digits") {
      SplitStep s;
      s.regex = std::make_unique<Regex>(f_.boolean(pt, at, "individual_digits", false) ? "\\p{Nd}" : "\\p{Nd}+");
      s.behavior = "Isolated";
      splits_.push_back(std::move(s));
    } else {
      fail("%s: %s.type \"%s\" is not supported (Split, ByteLevel, Digits, Sequence)", f_.file().c_str(), at.c_str(),
           type.c_str());
    }
  }

  void parse_post_processor(const json& pp, const std::string& at) {
    std::string type = f_.string(pp, at, "type");
    if (type == "Sequence") {
      const json& list = f_.array(pp, at, "processors");
      for (size_t i = 0; i < list.size(); ++i) parse_post_processor(list[i], Fields::at(at + ".processors", i));
    } else if (type == "ByteLevel") {
    } else if (type == "TemplateProcessing") {
      prefix_.clear();
      suffix_.clear();
      bool seen_seq = false;
      const json& single = f_.array(pp, at, "single");
      const json& specials = f_.need(pp, at, "special_tokens");
      for (size_t i = 0; i < single.size(); ++i) {
        std::string item_at = Fields::at(at + ".single", i);
        const json& item = single[i];
        if (f_.find(item, item_at, "Sequence")) {
          seen_seq = true;
        } else if (const json* st = f_.find(item, item_at, "SpecialToken")) {
          std::string name = f_.string(*st, item_at + ".SpecialToken", "id");
          std::string st_at = at + ".special_tokens[" + json(name).dump() + "]";
          if (!specials.is_object() || !specials.contains(name)) f_.bad(st_at, "is missing (named by " + item_at + ")");
          const json& ids = f_.array(specials[name], st_at, "ids");
          for (size_t k = 0; k < ids.size(); ++k)
            (seen_seq ? suffix_ : prefix_).push_back(f_.id(ids[k], Fields::at(st_at + ".ids", k)));
        } else {
          f_.bad(item_at, "is neither a Sequence nor a SpecialToken");
        }
      }
    } else {
      fail("%s: %s.type \"%s\" is not supported", f_.file().c_str(), at.c_str(), type.c_str());
    }
  }

  // bos_token / eos_token of tokenizer_config.json: a string, or an AddedToken object.
  std::optional<int64_t> token_id(const json& cfg, const char* key) const {
    if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
    const json& v = cfg[key];
    const json* content = v.is_object() && v.contains("content") ? &v["content"] : &v;
    if (!content->is_string())
      fail("%s: %s must be a string or an object with a string \"content\"",
           (std::filesystem::path(f_.file()).parent_path() / "tokenizer_config.json").string().c_str(), key);
    auto it = vocab_.find(content->get<std::string>());
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
        // HF SplitDelimiterBehavior over the match/non-match pieces; invert swaps the two roles
        std::vector<std::pair<std::pair<size_t, size_t>, bool>> parts;  // (range, is_delimiter)
        size_t prev = 0;
        for (auto& m : matches) {
          if (m.first > prev) parts.push_back({{prev, m.first}, s.invert});
          parts.push_back({m, !s.invert});
          prev = m.second;
        }
        if (prev < pc.size()) parts.push_back({{prev, pc.size()}, s.invert});
        std::vector<std::pair<size_t, size_t>> out;
        for (size_t i = 0; i < parts.size(); ++i) {
          auto [r, is_m] = parts[i];
          if (s.behavior == "Isolated")
            out.push_back(r);
          else if (s.behavior == "Removed") {
            if (!is_m) out.push_back(r);
          } else if (s.behavior == "Contiguous") {
            if (is_m && i > 0 && parts[i - 1].second)
              out.back().second = r.second;
            else
              out.push_back(r);
          } else if (s.behavior == "MergedWithPrevious") {
            if (is_m && !out.empty())
              out.back().second = r.second;
            else
              out.push_back(r);
          } else {  // MergedWithNext
            if (!out.empty() && parts[i - 1].second && !is_m)
              out.back().second = r.second;
            else
              out.push_back(r);
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

  // The id standing for bytes the vocabulary has no symbol for (HF's BPE::merge_word): none
  // without model.unk_token (the byte is dropped), else the unk token's id, which must exist.
  std::optional<int64_t> unk_id() const {
    if (!unk_token_) return std::nullopt;
    auto it = vocab_.find(*unk_token_);
    if (it == vocab_.end())
      fail("%s: model.unk_token \"%s\" is not in the vocabulary (needed for a byte the vocabulary lacks)",
           f_.file().c_str(), unk_token_->c_str());
    return it->second;
  }

  void bpe_word(const std::string& bytes, std::vector<int64_t>& out) const {
    // One word cache per thread (encode() runs on several threads), emptied when the thread
    // switches to another tokenizer.
    thread_local WordCache tl;
    if (tl.owner != id_) tl = WordCache{id_, {}};
    auto& cache_ = tl.words;
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
      bool last_unk = false;
      for (unsigned char b : bytes) {
        if (byte_id_[b] >= 0) {
          ids.push_back(byte_id_[b]);
          last_unk = false;
        } else if (std::optional<int64_t> unk = unk_id()) {
          if (!(last_unk && fuse_unk_)) ids.push_back(*unk);
          last_unk = true;
        }
      }
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
  json tj = read_json_file(path);
  if (!tj.is_object()) fail("%s: top level is not a JSON object", path.c_str());
  try {
    return std::make_unique<BpeTokenizer>(path, tj, cfg);
  } catch (const json::exception& e) {
    fail("%s: malformed tokenizer.json: %s", path.c_str(), e.what());
  }
}

}  // namespace leap
