// calibration.h — calibration samples for the layer-wise methods and the Wanda prior, drawn the
// way Wanda and SparseGPT draw C4 samples: Python's random.seed(seed); repeat nsamples times:
// pick random documents until one tokenises to more than calib_seqlen tokens, then take a random
// window of calib_seqlen tokens from it. The documents come from any source data/documents.h
// reads (a jsonl file's lines, a plain text file as one long document, parquet shards, a cached
// HF dataset's split). The calibration length is
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
  std::string format;  // the shards' formats: "jsonl" | "text" | "parquet" | ...
  int64_t documents = 0;
};

CalibData load_calibration(const Tokenizer& tok, const std::string& path, int64_t nsamples, int64_t seqlen,
                           uint64_t seed, const std::string& split = "train", const std::string& text_field = "text");

}  // namespace leap
