// packing.cpp — see packing.h.
#include "data/packing.h"

#include <algorithm>

#include "base/error.h"

namespace leap {

PackedBlocks pack_blocks(const TokenCache& cache, const PackOptions& o) {
  LEAP_CHECK(o.seqlen >= 2, "--seqlen must be at least 2");
  LEAP_CHECK(o.batch >= 1, "--pack_batch must be at least 1");
  LEAP_CHECK(o.shards >= 1, "--pack_shards must be at least 1");
  PackedBlocks p;
  p.seqlen = o.seqlen;
  const int64_t n = o.max_documents > 0 ? std::min(o.max_documents, cache.num_documents()) : cache.num_documents();
  p.documents = n;
  const uint64_t* off = cache.offsets();
  const uint64_t L = uint64_t(o.seqlen);
  // datasets' map(num_proc): num_proc ≤ len, then shard(contiguous=True) — div·i + min(i, mod)
  const int64_t shards = std::min(o.shards, std::max<int64_t>(n, 1));
  const int64_t div = n / shards, mod = n % shards;
  for (int64_t s = 0; s < shards; ++s) {
    const int64_t begin = div * s + std::min(s, mod), end = begin + div + (s < mod ? 1 : 0);
    for (int64_t b = begin; b < end; b += o.batch) {  // group_texts on one batch of documents
      const int64_t e = std::min(end, b + o.batch);
      const uint64_t total = off[e] - off[b];  // the batch's documents are contiguous in the cache
      if (total < L) {
        ++p.short_batches;
        p.tokens_dropped += int64_t(total);
        continue;
      }
      for (uint64_t k = 0; k + L <= total; k += L) p.starts.push_back(off[b] + k);
      p.tokens_dropped += int64_t(total % L);
    }
  }
  if (o.max_blocks > 0 && int64_t(p.starts.size()) > o.max_blocks) p.starts.resize(size_t(o.max_blocks));
  return p;
}

}  // namespace leap
