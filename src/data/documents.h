// documents.h — where training and calibration text comes from, and reading it document by
// document. A source is one of:
//   * a file: .txt (the whole file is one document, e.g. a TinyStories stream), .jsonl / .json
//     (one JSON object per line, the document in --text_field), .jsonl.gz / .jsonl.zst (the same,
//     compressed), .parquet (the --text_field string column, read row group by row group);
//   * a folder (every such file below it) or a glob ("shards/*.parquet"), in path order;
//   * an HF dataset repo id "ORG/NAME" in the local HF hub cache (io/hf_hub.h) and a split: the
//     split's files named by the dataset card's `configs: data_files`, else by the file-name
//     conventions of HF datasets (train-*, */train/*, *-train-*, ...). Nothing is downloaded.
// Decompression and Parquet go through Apache Arrow (the pyarrow wheel's libarrow/libparquet).
// Every error names the file (and line or row) and the problem. Not here: tokenisation and
// packing (token_cache.h, packing.h).
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace leap {

struct Shard {
  std::string path;
  std::string format;  // "text" | "jsonl" | "jsonl.gz" | "jsonl.zst" | "parquet"
  uint64_t bytes = 0;
  int64_t mtime_ns = 0;
  std::string blob;  // the HF cache blob the snapshot links to (its content hash), when it is one
};

struct TextSource {
  std::string spec;        // what the user passed
  std::string kind;        // "file" | "folder" | "glob" | "hf_dataset"
  std::string location;    // the file, folder, pattern or snapshot folder
  std::string split;       // hf_dataset only
  std::string text_field;  // jsonl and parquet
  std::vector<Shard> shards;

  uint64_t bytes() const;
  // Identifies the content (paths, sizes, modification times, blobs, text field) for cache keys.
  nlohmann::json identity() const;
  // "DKYoon/SlimPajama-6B (hf_dataset, split train, 48 parquet shards, 14227.1 MB)"
  std::string summary() const;
  std::string describe() const;  // the summary, and the snapshot folder of an HF dataset
};

// Resolves `spec` (flag names the option in errors, e.g. "--train_data"). A miss names every
// place looked and, for an HF id, the `huggingface-cli download --repo-type dataset` command.
TextSource resolve_text_source(const std::string& spec, const std::string& split, const std::string& text_field,
                               const std::string& flag);

// Calls on_doc(text) for each document in order until it returns false; on_bytes(n) reports input
// bytes consumed (for progress). Returns true when the whole source was read.
bool for_each_document(const TextSource& src, const std::function<bool(std::string_view)>& on_doc,
                       const std::function<void(uint64_t)>& on_bytes = {});

// All documents (at most max_docs when > 0). An empty source is an error naming it.
std::vector<std::string> read_documents(const TextSource& src, int64_t max_docs = 0);
// The documents of one file or folder (text field "text"); `format`, when given, gets the first
// shard's format.
std::vector<std::string> read_documents(const std::string& path, std::string* format);

}  // namespace leap
