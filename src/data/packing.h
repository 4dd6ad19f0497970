// packing.h — training blocks cut from a token cache the way the reference prepares SlimPajama
// (patch/data.py, HF run_clm's group_texts; docs/METHOD.md §1.6): the first `max_documents`
// documents, split into `shards` contiguous shards as HF datasets' map(num_proc=shards) splits
// them; in each shard, batches of `batch` documents (map's batch_size) are concatenated and cut
// into `seqlen`-token blocks, each batch's remainder dropped; the first `max_blocks` blocks kept.
// A batch shorter than one block, which the reference keeps as one short block, is dropped (and
// counted). A block is a start offset into the cache: nothing is copied. Not here: the shuffled
// order the trainer draws blocks in (leap/trainer.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "data/token_cache.h"

namespace leap {

struct PackOptions {
  int64_t seqlen = 4096;
  int64_t batch = 1000;       // documents per group_texts call (HF map's default batch_size)
  int64_t shards = 96;        // the reference's preprocessing_num_workers
  int64_t max_documents = 0;  // 0: all in the cache
  int64_t max_blocks = 0;     // 0: all
};

struct PackedBlocks {
  std::vector<uint64_t> starts;  // token offsets of the blocks, in the reference's order
  int64_t seqlen = 0;
  int64_t documents = 0;       // documents packed
  int64_t tokens_dropped = 0;  // remainders (and short batches)
  int64_t short_batches = 0;   // batches shorter than one block (dropped)
};

PackedBlocks pack_blocks(const TokenCache& cache, const PackOptions& o);

}  // namespace leap
