// token_cache.h — a text source tokenised once, kept as a memory-mapped file of uint32 token ids
// under leap's cache (<cache>/tokens/<key>.tok), shared by later runs, every rank and resumes.
//
// Each document is tokenised with the tokenizer's default special tokens (BOS for Llama/Gemma,
// none for Qwen/SmolLM2) on --data_workers threads, in document order, and the ids of all
// documents are stored back to back with the offsets where each document starts.
// File: "LEAPTOK1" · u64 0 · u32 tokens[T] (padded to 8 bytes) · u64 offsets[D+1] · JSON header ·
// u64 T · u64 D · u64 header bytes · u64 complete · "LEAPEND1". It is written to a temporary file
// and renamed (fs_util.h), so the final name never holds a torn file; a file that fails the size
// and trailer checks anyway (copied half, disk full) is rebuilt with a warning. The key hashes
// the tokenizer's fingerprint and the source's identity (paths, sizes, mtimes, HF blobs, text
// field); the header also records them and is checked on open, and records the sha256 of the
// ids and offsets themselves (tokens_sha256: what a run trained on, wherever the text lives and
// whatever its file times — a resumed run compares it). One process builds (the first
// local rank); the others wait for the file, up to --data_timeout seconds.
// Not here: packing documents into blocks (packing.h).
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/fs_util.h"
#include "data/documents.h"
#include "text/tokenizer.h"

namespace leap {

struct TokenCacheOptions {
  int64_t max_documents = 0;  // tokenise only the first N documents (0: all)
  int threads = 0;            // 0: the hardware's
  bool build = true;          // false: wait for another process to build it
  double timeout_seconds = 7200;
  std::string cache_dir;  // "" : leap_cache_dir()/tokens
};

class TokenCache {
 public:
  const uint32_t* tokens() const { return tokens_; }
  const uint64_t* offsets() const { return offsets_; }  // [documents + 1]
  int64_t num_tokens() const { return n_tokens_; }
  int64_t num_documents() const { return n_docs_; }
  bool complete() const { return complete_; }  // every document of the source is in it
  bool built() const { return built_; }        // this process tokenised it (not reused)
  double build_seconds() const { return build_seconds_; }
  const std::string& path() const { return map_->path(); }
  const nlohmann::json& header() const { return header_; }
  std::string tokens_sha256() const { return header_.at("tokens_sha256").get<std::string>(); }

 private:
  friend TokenCache open_token_cache(const Tokenizer&, const TextSource&, const TokenCacheOptions&);
  std::shared_ptr<MappedFile> map_;
  const uint32_t* tokens_ = nullptr;
  const uint64_t* offsets_ = nullptr;
  int64_t n_tokens_ = 0, n_docs_ = 0;
  bool complete_ = false, built_ = false;
  double build_seconds_ = 0;
  nlohmann::json header_;
};

// The cache file for (tokenizer, source).
std::string token_cache_path(const Tokenizer& tok, const TextSource& src, const TokenCacheOptions& o);

// Opens the cache for (tok, src) when it holds at least o.max_documents documents (or all), else
// builds it (o.build) or waits for it. Throws naming the source, or the wait, on failure.
TokenCache open_token_cache(const Tokenizer& tok, const TextSource& src, const TokenCacheOptions& o);

}  // namespace leap
