// mask_file.h — 1-bit mask files: the keep masks of a pruned model without its weights, 1/16 of
// a bf16 checkpoint, as PATCH and MaskLLM share their results.
//
// leap's format is a safetensors file: one U8 tensor per masked weight, named by its checkpoint
// key ("model.layers.0.self_attn.q_proj.weight"), holding the flat row-major keep mask bit-packed
// most significant bit first (np.packbits' default order, so np.unpackbits(x, count=n) reads it);
// its "__metadata__" holds "leap_mask", a JSON object: format version, bit order, the run that made
// it (method, sparsity, pattern, source model) and per tensor its shape and the sha256 of the base
// weights it was made for (weights_sha256: dtype, shape and raw bytes as the checkpoint stores
// them, so the same weights hash alike whatever dtype a run loads them in).
//
// It also reads the LEAP reference code's released mask.npz (scripts/release/build_release.py:
// np.savez_compressed of np.packbits per tensor, "<key>.__shape__" int64 arrays and a JSON
// "__meta__" string). Those carry no weight hashes: names and shapes are all that can be checked.
//
// Not here: applying a mask to a model (app/cmd_apply_mask.cpp), choosing masks.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "io/safetensors.h"

namespace leap {

// Bit packing, most significant bit first (np.packbits / np.unpackbits with count).
std::vector<uint8_t> pack_bits(const torch::Tensor& keep);  // bool → ⌈n/8⌉ bytes
torch::Tensor unpack_bits(const uint8_t* bits, size_t nbytes, const std::vector<int64_t>& shape);  // → bool

struct MaskEntry {
  std::string key;             // checkpoint key of the weight
  torch::Tensor keep;          // bool, the weight's shape
  std::string weights_sha256;  // of the base weights; "" when unknown (mask.npz)
};

struct MaskFile {
  std::string path, format;        // format: "leap" | "npz"
  std::vector<MaskEntry> entries;  // in the file's key order
  nlohmann::json meta;             // the run's description ("__meta__" of an .npz)
};

// The sha256 of checkpoint tensor `key`: dtype, shape and raw bytes.
std::string weights_sha256(const st::Reader& ckpt, const std::string& key);

// Writes entries (keep masks on any device) and `meta` atomically.
void save_mask_file(const std::string& path, const std::vector<MaskEntry>& entries, const nlohmann::json& meta);

// Reads a leap mask file or a reference mask.npz (told apart by their first bytes).
MaskFile read_mask_file(const std::string& path);

}  // namespace leap
