// Training data: sources (files, folders, globs, an HF hub cache tree), the token cache, and the
// packed blocks against the reference's own pipeline (HF datasets map + run_clm's group_texts,
// AutoTokenizer), token for token. Fixtures: tests/python/make_data_fixtures.py.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <numeric>
#include <thread>

#include "base/fs_util.h"
#include "base/json_input.h"
#include "data/documents.h"
#include "data/packing.h"
#include "data/token_cache.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "leap/train_data.h"
#include "prune/calibration.h"
#include "test_util.h"

namespace leap {
namespace {
namespace fs = std::filesystem;

std::string fx() {
  return test::fixtures_dir() + "/data";
}

std::unique_ptr<Tokenizer> tokenizer(const std::string& name) {
  nlohmann::json cases = read_json_file(fx() + "/cases.json");
  return load_tokenizer(cases["tokenizers"][name]["dir"].get<std::string>());
}

TokenCacheOptions cache_in(const std::string& dir, int threads = 2) {
  TokenCacheOptions o;
  o.cache_dir = dir;
  o.threads = threads;
  return o;
}

// The blocks leap packs from `spec` with the settings of `c`, as int32 [blocks, seqlen].
torch::Tensor leap_blocks(const Tokenizer& tok, const std::string& spec, const nlohmann::json& c,
                          const std::string& cache) {
  TrainOptions o;
  o.train_data = spec;
  o.seqlen = c["seqlen"];
  o.pack_batch = c["pack_batch"];
  o.pack_shards = c["pack_shards"];
  o.max_train_samples = c["max_train_samples"];
  o.data_workers = 3;
  ::setenv("LEAP_CACHE_DIR", cache.c_str(), 1);
  TrainingData d = load_training_data(tok, o, resolve_training_source(o));
  std::vector<int64_t> all(size_t(d.size()));
  std::iota(all.begin(), all.end(), 0);
  return d.gather(all).to(torch::kInt32);
}

::testing::AssertionResult same_tokens(const torch::Tensor& a, const torch::Tensor& ref) {
  if (a.sizes() != ref.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << ref.sizes();
  torch::Tensor diff = (a != ref).nonzero();
  if (diff.size(0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << diff.size(0) << " tokens differ; first at [" << diff[0][0].item<int64_t>()
                                       << ", " << diff[0][1].item<int64_t>() << "]";
}

TEST(TrainingData, PackedBlocksEqualTheReferencePipelineTokenForToken) {
  nlohmann::json cases = read_json_file(fx() + "/cases.json");
  std::string cache = test::temp_dir("data_parity");
  for (const auto& [tname, tinfo] : cases["tokenizers"].items()) {
    auto tok = tokenizer(tname);
    EXPECT_EQ(tok->adds_bos(), tinfo["bos_first"].get<bool>()) << tname;
    for (const auto& [cname, c] : cases["cases"].items()) {
      st::Reader r(fx() + "/blocks/" + tname + "_" + cname + ".safetensors");
      torch::Tensor ref = read_tensor(r, "input_ids").clone();
      // one file of each format, the mixed-format shard folder and a glob: all the same documents
      for (const std::string& spec : {fx() + "/all.jsonl", fx() + "/all.parquet", fx() + "/shards",
                                      fx() + "/shards/part-*", std::string("leap-test/tiny")}) {
        ::setenv("HF_HUB_CACHE", (fx() + "/hub").c_str(), 1);
        EXPECT_TRUE(same_tokens(leap_blocks(*tok, spec, c, cache), ref)) << tname << " " << cname << " " << spec;
      }
    }
  }
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("LEAP_CACHE_DIR");
}

TEST(TrainingData, HubCacheResolutionTakesRefsMainAndTheSplitsFiles) {
  ::setenv("HF_HUB_CACHE", (fx() + "/hub").c_str(), 1);
  TextSource t = resolve_text_source("leap-test/tiny", "train", "text", "--train_data");
  EXPECT_EQ(t.kind, "hf_dataset");
  ASSERT_EQ(t.shards.size(), 2u);  // refs/main's snapshot (the older one has one train file)
  EXPECT_NE(t.shards[0].path.find("train-00000-of-00002.parquet"), std::string::npos);
  EXPECT_EQ(t.shards[0].blob.size(), 64u);  // the blob's sha256 identifies the content
  EXPECT_EQ(read_documents(resolve_text_source("leap-test/tiny", "validation", "text", "x")).size(), 7u);
  // the dataset card's configs name the files: only blobs_a/*.parquet is train
  TextSource carded = resolve_text_source("leap-test/carded", "train", "text", "--train_data");
  ASSERT_EQ(carded.shards.size(), 1u);
  EXPECT_EQ(read_documents(carded).size(), 11u);
  EXPECT_EQ(read_documents(resolve_text_source("leap-test/carded", "test", "text", "x")).size(), 5u);
  std::string e = test::error_of([] { resolve_text_source("leap-test/nope", "train", "text", "--train_data"); });
  EXPECT_NE(e.find("--train_data leap-test/nope: not found"), std::string::npos) << e;
  EXPECT_NE(e.find(fx() + "/hub/datasets--leap-test--nope/snapshots/<rev>/"), std::string::npos) << e;
  EXPECT_NE(e.find("huggingface-cli download --repo-type dataset leap-test/nope"), std::string::npos) << e;
  e = test::error_of([] { resolve_text_source("leap-test/tiny", "dev_x", "text", "--train_data"); });
  EXPECT_NE(e.find("data files for split \"dev_x\""), std::string::npos) << e;
  ::unsetenv("HF_HUB_CACHE");
}

TEST(TrainingData, TokenCacheIsReusedAndRebuiltWhenTokenizerOrDataChange) {
  std::string cache = test::temp_dir("tok_cache"), data = test::temp_dir("tok_cache_data");
  fs::copy_file(fx() + "/all.jsonl", data + "/a.jsonl");
  auto sp = tokenizer("stories260k"), bpe = tokenizer("llama3_bpe");
  TextSource src = resolve_text_source(data + "/a.jsonl", "train", "text", "--train_data");
  TokenCache first = open_token_cache(*sp, src, cache_in(cache));
  EXPECT_TRUE(first.built());
  EXPECT_TRUE(first.complete());
  EXPECT_EQ(first.num_documents(), 300);
  TokenCache again = open_token_cache(*sp, src, cache_in(cache, 1));
  EXPECT_FALSE(again.built());  // reused: not tokenised again
  EXPECT_EQ(again.path(), first.path());
  EXPECT_EQ(again.num_tokens(), first.num_tokens());
  // the same tokens whatever the thread count
  std::string cache1 = test::temp_dir("tok_cache_1thread");
  TokenCache one = open_token_cache(*sp, src, cache_in(cache1, 1));
  ASSERT_EQ(one.num_tokens(), first.num_tokens());
  EXPECT_TRUE(std::equal(one.tokens(), one.tokens() + one.num_tokens(), first.tokens()));
  // each document's ids equal the tokenizer's
  std::vector<std::string> docs = read_documents(src);
  for (size_t i : {size_t(0), size_t(150), size_t(151), size_t(299)}) {
    std::vector<int64_t> ids = sp->encode(docs[i], true);
    ASSERT_EQ(first.offsets()[i + 1] - first.offsets()[i], ids.size()) << i;
    for (size_t j = 0; j < ids.size(); ++j) ASSERT_EQ(first.tokens()[first.offsets()[i] + j], uint32_t(ids[j]));
  }
  TokenCache other_tok = open_token_cache(*bpe, src, cache_in(cache));
  EXPECT_TRUE(other_tok.built());
  EXPECT_NE(other_tok.path(), first.path());
  // changed data (another size and time): a new key, tokenised again
  { std::ofstream(data + "/a.jsonl", std::ios::app) << "{\"text\": \"one more document\"}\n"; }
  TextSource changed = resolve_text_source(data + "/a.jsonl", "train", "text", "--train_data");
  TokenCache after = open_token_cache(*sp, changed, cache_in(cache));
  EXPECT_TRUE(after.built());
  EXPECT_EQ(after.num_documents(), 301);
  // a prefix cache (max_documents) serves smaller requests and is rebuilt for larger ones
  std::string pcache = test::temp_dir("tok_cache_prefix");
  TokenCacheOptions p = cache_in(pcache);
  p.max_documents = 50;
  TokenCache pre = open_token_cache(*sp, src, p);
  EXPECT_EQ(pre.num_documents(), 50);
  EXPECT_FALSE(pre.complete());
  p.max_documents = 40;
  EXPECT_FALSE(open_token_cache(*sp, src, p).built());
  p.max_documents = 0;
  TokenCache full = open_token_cache(*sp, src, p);
  EXPECT_TRUE(full.built());
  EXPECT_TRUE(full.complete());
}

TEST(TrainingData, TornCacheFileIsDetectedAndRebuilt) {
  std::string cache = test::temp_dir("tok_torn");
  auto sp = tokenizer("stories260k");
  TextSource src = resolve_text_source(fx() + "/all.parquet", "train", "text", "--train_data");
  TokenCache c = open_token_cache(*sp, src, cache_in(cache));
  const std::string path = c.path();
  const int64_t tokens = c.num_tokens();
  c = TokenCache();                                // unmap
  fs::resize_file(path, fs::file_size(path) / 2);  // a writer killed halfway, had it written in place
  TokenCache again = open_token_cache(*sp, src, cache_in(cache));
  EXPECT_TRUE(again.built());
  EXPECT_EQ(again.num_tokens(), tokens);
  // a rank that must not build waits, then names the wait and the flag
  std::string empty = test::temp_dir("tok_wait");
  TokenCacheOptions w = cache_in(empty);
  w.build = false;
  w.timeout_seconds = 0.3;
  std::string e = test::error_of([&] { open_token_cache(*sp, src, w); });
  EXPECT_NE(e.find("waited"), std::string::npos) << e;
  EXPECT_NE(e.find("--data_timeout"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_empty(empty));  // nothing written by the waiting rank
}

TEST(TrainingData, OtherRanksWaitForTheBuilderAndMapItsFile) {
  std::string cache = test::temp_dir("tok_ranks");
  auto bpe = tokenizer("llama3_bpe");
  TextSource src = resolve_text_source(fx() + "/shards", "train", "text", "--train_data");
  TokenCacheOptions waiter = cache_in(cache);
  waiter.build = false;
  waiter.timeout_seconds = 120;
  TokenCache waited;
  std::thread other([&] { waited = open_token_cache(*bpe, src, waiter); });  // starts before the file exists
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TokenCache built = open_token_cache(*bpe, src, cache_in(cache));
  other.join();
  EXPECT_TRUE(built.built());
  EXPECT_FALSE(waited.built());
  EXPECT_EQ(waited.path(), built.path());
  ASSERT_EQ(waited.num_tokens(), built.num_tokens());
  EXPECT_TRUE(std::equal(waited.tokens(), waited.tokens() + waited.num_tokens(), built.tokens()));
  EXPECT_FALSE(builds_shared_files(1));
  ::setenv("LOCAL_RANK", "0", 1);  // the first process of each node builds
  EXPECT_TRUE(builds_shared_files(3));
  ::unsetenv("LOCAL_RANK");
}

TEST(TrainingData, BadInputsAreClearErrorsNamingTheFile) {
  auto sp = tokenizer("stories260k");
  std::string cache = test::temp_dir("tok_bad");
  auto err = [&](const std::string& file) {
    return test::error_of([&] {
      TextSource s = resolve_text_source(file, "train", "text", "--train_data");
      open_token_cache(*sp, s, cache_in(cache));
    });
  };
  const std::string b = fx() + "/bad/";
  std::string e = err(b + "corrupt.parquet");
  EXPECT_NE(e.find(b + "corrupt.parquet: not a Parquet file"), std::string::npos) << e;
  e = err(b + "no_text.parquet");
  EXPECT_NE(e.find("no column \"text\" (--text_field); the file has: content"), std::string::npos) << e;
  e = err(b + "int_text.parquet");
  EXPECT_NE(e.find("column \"text\" holds int64, not strings"), std::string::npos) << e;
  e = err(b + "null_text.parquet");
  EXPECT_NE(e.find("null_text.parquet: row 1: \"text\" is null"), std::string::npos) << e;
  e = err(b + "empty.parquet");
  EXPECT_NE(e.find("empty.parquet (file, 1 parquet shard"), std::string::npos) << e;
  EXPECT_NE(e.find("no documents"), std::string::npos) << e;
  e = err(b + "empty.jsonl");
  EXPECT_NE(e.find("no documents"), std::string::npos) << e;
  e = err(fx() + "/docs.json.bak");
  EXPECT_NE(e.find("not found"), std::string::npos) << e;
  // a .parquet is never read as text, nor an unknown extension
  std::string d = test::temp_dir("tok_bad_ext");
  { std::ofstream(d + "/x.csv") << "a,b\n"; }
  e = err(d + "/x.csv");
  EXPECT_NE(e.find("x.csv: not a data file leap reads"), std::string::npos) << e;
  // a shard that disappears between listing and reading
  fs::create_directories(d + "/s");
  fs::copy_file(fx() + "/all.parquet", d + "/s/a.parquet");
  fs::copy_file(fx() + "/all.jsonl", d + "/s/b.jsonl");
  TextSource listed = resolve_text_source(d + "/s/*", "train", "text", "--train_data");
  ASSERT_EQ(listed.shards.size(), 2u);
  fs::remove(d + "/s/b.jsonl");
  e = test::error_of([&] { open_token_cache(*sp, listed, cache_in(cache)); });
  EXPECT_NE(e.find(d + "/s/b.jsonl: cannot open the file (it was listed but can no longer be read)"), std::string::npos)
      << e;
  for (const auto& f : fs::directory_iterator(cache))  // nothing half-written
    EXPECT_EQ(f.path().extension(), ".tok") << f.path();
}

TEST(TrainingData, CalibrationReadsTheSameSources) {
  auto sp = tokenizer("stories260k");
  CalibData j = load_calibration(*sp, fx() + "/all.jsonl", 8, 64, 0);
  CalibData p = load_calibration(*sp, fx() + "/all.parquet", 8, 64, 0);
  ::setenv("HF_HUB_CACHE", (fx() + "/hub").c_str(), 1);
  CalibData h = load_calibration(*sp, "leap-test/tiny", 8, 64, 0, "train");
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(p.format, "parquet");
  EXPECT_EQ(h.format, "parquet");
  EXPECT_EQ(h.documents, 300);
  EXPECT_TRUE(torch::equal(j.ids, p.ids));  // the same documents: the same Wanda/SparseGPT draw
  EXPECT_TRUE(torch::equal(j.ids, h.ids));
  EXPECT_NE(p.sha256, h.sha256);
}

TEST(TrainingData, ShortBatchesAreDroppedAndCounted) {
  auto sp = tokenizer("stories260k");
  std::string cache = test::temp_dir("tok_short");
  TextSource src = resolve_text_source(fx() + "/all.jsonl", "train", "text", "--train_data");
  TokenCache c = open_token_cache(*sp, src, cache_in(cache));
  PackOptions po;
  po.seqlen = 400;
  po.batch = 1;
  po.shards = 1;
  PackedBlocks p = pack_blocks(c, po);
  int64_t short_docs = 0, dropped = 0;
  for (int64_t i = 0; i < c.num_documents(); ++i) {
    uint64_t n = c.offsets()[i + 1] - c.offsets()[i];
    short_docs += n < 400;
    dropped += int64_t(n % 400);
  }
  EXPECT_GT(short_docs, 0);
  EXPECT_EQ(p.short_batches, short_docs);
  EXPECT_EQ(p.tokens_dropped, dropped);
  EXPECT_EQ(int64_t(p.starts.size()) * 400 + dropped, c.num_tokens());
}

}  // namespace
}  // namespace leap
