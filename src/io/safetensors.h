// safetensors.h — the safetensors file format, without LibTorch.
//
// Reads single files and sharded folders (model.safetensors.index.json) through read-only memory
// maps; every header field is bounds-checked: header length inside the file and under a limit,
// valid JSON object, known dtype, non-negative shape with no overflow in numel × element size,
// data offsets inside the data section, tensors contiguous and non-overlapping (the same rule as
// HF's `safetensors`), shard names that stay inside the model folder. Writes files HF reads
// (8-byte length, JSON header padded with spaces to 8 bytes, data in header order).
//
// Not here: conversion to torch tensors (state_dict.h) and checkpoint layout (checkpoint.h).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/fs_util.h"

namespace leap::st {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// "F32" → DType; throws on unknown names.
DType dtype_from_string(const std::string& s, const std::string& context);
const char* dtype_name(DType d);
size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const;
};

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // same limit as HF's safetensors

struct Header {
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t data_offset = 0;                     // 8 + header length
};

// Parses and validates the header of a safetensors buffer of `size` bytes. `file` is used in
// error messages only.
Header parse_header(const uint8_t* data, uint64_t size, const std::string& file);

// One memory-mapped safetensors file.
class File {
 public:
  explicit File(const std::string& path);
  const Header& header() const { return header_; }
  const std::string& path() const { return map_->path(); }
  // Pointer to the raw bytes of tensor `name` (little-endian, row-major); throws if absent.
  const uint8_t* data(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  std::shared_ptr<const MappedFile> mapping() const { return map_; }

 private:
  std::shared_ptr<const MappedFile> map_;
  Header header_;
};

// All tensors of a model folder: model.safetensors, or the shards listed by
// model.safetensors.index.json. A tensor listed in the index but absent from its shard, or present
// in two files, is an error.
class Reader {
 public:
  // `path` is a folder (single or sharded) or a .safetensors file.
  explicit Reader(const std::string& path);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  const uint8_t* data(const std::string& name) const;
  const File& file_of(const std::string& name) const;
  const std::vector<std::unique_ptr<File>>& files() const { return files_; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::unique_ptr<File>> files_;
  std::map<std::string, size_t> where_;
};

// Parses an index file; returns tensor name → shard file name, validating that every shard name
// is a plain relative path inside the folder.
std::map<std::string, std::string> parse_index(const std::string& index_path);

// A tensor to write: raw little-endian bytes.
struct OutTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  uint64_t nbytes;
};
// Serialises the header for `tensors` (in the given order) with optional metadata.
std::string make_header(const std::vector<OutTensor>& tensors, const std::map<std::string, std::string>& metadata);
// Writes a safetensors file atomically.
void write_file(const std::string& path, const std::vector<OutTensor>& tensors,
                const std::map<std::string, std::string>& metadata = {});

}  // namespace leap::st
