// train_data.h — LEAP's training text as the trainer reads it: the --train_data source
// (data/documents.h) tokenised once into the token cache (data/token_cache.h) and packed into
// --seqlen blocks as the reference packs SlimPajama (data/packing.h). Blocks are read from the
// memory map on demand: no rank holds a copy of the corpus. Also the summary the start-up log
// prints (source, tokens, what the run consumes, epochs).
#pragma once
#include <cstdint>
#include <string>
#include <torch/torch.h>

#include "data/packing.h"
#include "leap/train_options.h"

namespace leap {

struct TrainingData {
  TextSource source;
  TokenCache cache;
  PackedBlocks blocks;

  int64_t size() const { return int64_t(blocks.starts.size()); }
  torch::Tensor gather(const std::vector<int64_t>& idx) const;  // [idx.size(), seqlen] int64
  // Rows for the start-up table; `consumed_blocks` = steps × global_batch.
  std::vector<std::pair<std::string, std::string>> summary(int64_t consumed_blocks) const;
  double epochs(int64_t consumed_blocks) const;
};

// The reference tokenises the first 6 × max_train_samples documents (patch/data.py).
constexpr int64_t kDocumentsPerSample = 6;

// o.train_data resolved (--train_split, --text_field); an error naming --train_data when empty.
TextSource resolve_training_source(const TrainOptions& o);
// Tokenises `src` (or reuses the cache: the first local rank builds it, the others wait) and
// packs it. Throws naming the source when it yields no block.
TrainingData load_training_data(const Tokenizer& tok, const TrainOptions& o, TextSource src, int rank = 0);

// Whether this process builds shared files such as the token cache: LOCAL_RANK 0 under a
// launcher, else rank 0.
bool builds_shared_files(int rank);

}  // namespace leap
