// tokenizer.h — text ↔ token ids, matching HF transformers' AutoTokenizer on the same files.
//
// Two implementations behind one interface:
//  * SentencePiece `tokenizer.model` (stories260k, Gemma), through libsentencepiece, with the
//    whitespace handling HF's converted tokenizers use;
//  * HF `tokenizer.json` byte-level BPE (Llama 3, Qwen2.5): normalizer (NFC), Split
//    pre-tokenizer regexes, ByteLevel, merges, ignore_merges, added/special tokens, and the
//    post-processor's BOS/EOS template.
// The BOS/EOS policy comes from tokenizer_config.json (add_bos_token / add_eos_token) and the
// tokenizer.json post-processor. Torch-free.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace leap {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Encodes `text`; with add_special, the tokenizer's default special tokens (e.g. BOS) are added.
  virtual std::vector<int64_t> encode(const std::string& text, bool add_special = true) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual std::string piece(int64_t id) const = 0;  // vocabulary string of one id
  virtual int64_t vocab_size() const = 0;
  virtual std::string kind() const = 0;  // "sentencepiece" | "bpe"

  std::optional<int64_t> bos_id() const { return bos_id_; }
  std::optional<int64_t> eos_id() const { return eos_id_; }
  bool adds_bos() const { return !prefix_.empty() && bos_id_ && prefix_.front() == *bos_id_; }
  const std::vector<int64_t>& prefix_tokens() const { return prefix_; }
  const std::vector<int64_t>& suffix_tokens() const { return suffix_; }
  // sha256 over the files this tokenizer was loaded from (and leap's tokenizer revision): equal
  // fingerprints encode every text the same way. encode() may be called from several threads.
  const std::string& fingerprint() const { return fingerprint_; }

 protected:
  friend std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir);
  std::string fingerprint_;
  std::optional<int64_t> bos_id_, eos_id_;
  std::vector<int64_t> prefix_, suffix_;  // added around every encode(add_special=true)
};

// Loads the tokenizer of an HF model folder (tokenizer.json if byte-level BPE, else
// tokenizer.model). Throws naming the folder when neither is usable.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir);

}  // namespace leap
