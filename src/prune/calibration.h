// calibration.h — calibration samples for the layer-wise methods and the Wanda prior, drawn the
// way Wanda and SparseGPT draw C4 samples: Python's random.seed(seed); repeat nsamples times:
// pick random documents until one tokenises to more than calib_seqlen tokens, then take a random
// window of calib_seqlen tokens from it. A jsonl file (field "text") is a list of documents; a
// plain text file is one document (a long stream, e.g. TinyStories). The calibration length is
// always explicit (never max_position_embeddings) (docs/METHOD.md §1.6).
#pragma once
#include <cstdint>
#include <string>
#include <torch/torch.h>

#include "text/tokenizer.h"

namespace leap {

struct CalibData {
  torch::Tensor ids;  // [nsamples, seqlen] int64, CPU
  std::string path, sha256;
  std::string format;  // "jsonl" | "text"
  int64_t documents = 0;
};

CalibData load_calibration(const Tokenizer& tok, const std::string& path, int64_t nsamples, int64_t seqlen,
                           uint64_t seed);

// Reads documents from a jsonl file (one object per line with a string "text") or a plain text
// file (one document). Errors name the file and line.
std::vector<std::string> read_documents(const std::string& path, std::string* format);

}  // namespace leap
