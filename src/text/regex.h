// regex.h — a small backtracking regex engine over Unicode code points, for the pre-tokenizer
// patterns of HF tokenizer.json files (GPT-2, Llama-3, Qwen2 and similar).
//
// Supported: literals and escapes (\r \n \t \f \v \\ \. ...), classes [..] with ranges and
// negation, \s \S \d \D \w \W, \p{L} \p{Lu} \p{N} ... and \P{..}, '.', groups ( ) (?: ),
// inline case-insensitive groups (?i: ), look-ahead (?= ) (?! ), alternation, greedy and lazy
// quantifiers ? * + {m} {m,} {m,n}, anchors ^ $. Semantics follow Oniguruma (what HF tokenizers
// uses): leftmost match, alternatives tried in order, \s = Unicode White_Space.
// Anything else (back-references, look-behind, possessive quantifiers) is rejected at
// construction with an error naming the construct. Torch-free.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace leap {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  // Leftmost match starting at or after `start` in `s`; sets [begin, end). Empty matches are
  // reported like any other match. Safe to call from several threads at once.
  bool search(const std::vector<uint32_t>& s, size_t start, size_t& begin, size_t& end) const;
  const std::string& pattern() const { return pattern_; }

  struct Impl;

 private:
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leap
