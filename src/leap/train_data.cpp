// train_data.cpp — see train_data.h.
#include "leap/train_data.h"

#include <cstdlib>
#include <cstring>

#include "base/error.h"
#include "base/log.h"

namespace leap {

bool builds_shared_files(int rank) {
  const char* lr = std::getenv("LOCAL_RANK");
  if (lr && *lr) return std::atoi(lr) == 0;
  return rank == 0;
}

TextSource resolve_training_source(const TrainOptions& o) {
  LEAP_CHECK(!o.train_data.empty(), "LEAP needs training text: pass --train_data");
  return resolve_text_source(o.train_data, o.train_split, o.text_field, "--train_data");
}

TrainingData load_training_data(const Tokenizer& tok, const TrainOptions& o, TextSource src, int rank) {
  LEAP_CHECK(o.max_train_samples >= 0, "--max_train_samples must be >= 0");
  TrainingData d{std::move(src), {}, {}};
  TokenCacheOptions co;
  co.max_documents = o.max_train_samples > 0 ? kDocumentsPerSample * o.max_train_samples : 0;
  co.threads = int(o.data_workers);
  co.build = builds_shared_files(rank);
  co.timeout_seconds = o.data_timeout;
  if (rank == 0) LEAP_INFO("training text: %s", d.source.describe().c_str());
  d.cache = open_token_cache(tok, d.source, co);
  PackOptions po;
  po.seqlen = o.seqlen;
  po.batch = o.pack_batch;
  po.shards = o.pack_shards;
  po.max_documents = co.max_documents;
  po.max_blocks = o.max_train_samples;
  d.blocks = pack_blocks(d.cache, po);
  if (d.blocks.starts.empty())
    fail(
        "%s: %lld tokens in %lld documents make no --seqlen %lld block (each --pack_batch of documents must hold at "
        "least one block)",
        d.source.describe().c_str(), (long long)d.cache.num_tokens(), (long long)d.blocks.documents,
        (long long)o.seqlen);
  return d;
}

torch::Tensor TrainingData::gather(const std::vector<int64_t>& idx) const {
  const int64_t L = blocks.seqlen;
  torch::Tensor out = torch::empty({int64_t(idx.size()), L}, torch::kInt64);
  int64_t* o = out.data_ptr<int64_t>();
  for (size_t r = 0; r < idx.size(); ++r) {
    const uint32_t* src = cache.tokens() + blocks.starts.at(size_t(idx[r]));
    for (int64_t j = 0; j < L; ++j) o[int64_t(r) * L + j] = int64_t(src[j]);
  }
  return out;
}

double TrainingData::epochs(int64_t consumed_blocks) const {
  return size() > 0 ? double(consumed_blocks) / double(size()) : 0.0;
}

std::vector<std::pair<std::string, std::string>> TrainingData::summary(int64_t consumed_blocks) const {
  const double L = double(blocks.seqlen);
  return {
      {"source", source.summary()},
      {"documents", strformat("%lld%s", (long long)blocks.documents,
                              cache.complete() || blocks.documents < cache.num_documents() ? "" : " (a prefix)")},
      {"tokens", strformat("%lld (%lld packed, %lld dropped remainders)", (long long)cache.num_tokens(),
                           (long long)(double(size()) * L), (long long)blocks.tokens_dropped)},
      {"token cache", cache.path() + (cache.built() ? strformat(" (built in %.2f s)", cache.build_seconds())
                                                    : std::string(" (reused)"))},
      {"blocks", strformat("%lld of %lld tokens", (long long)size(), (long long)blocks.seqlen)},
      {"this run reads", strformat("%lld blocks = %.4g tokens = %.3g epochs", (long long)consumed_blocks,
                                   double(consumed_blocks) * L, epochs(consumed_blocks))},
  };
}

}  // namespace leap
