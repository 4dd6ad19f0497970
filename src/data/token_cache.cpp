// token_cache.cpp — see token_cache.h.
#include "data/token_cache.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "io/model_path.h"

namespace leap {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'L', 'E', 'A', 'P', 'T', 'O', 'K', '1'};
constexpr char kEndMagic[8] = {'L', 'E', 'A', 'P', 'E', 'N', 'D', '1'};
constexpr int kFormatVersion = 2;  // 2: the header records tokens_sha256
constexpr size_t kTrailer = 5 * 8;

size_t padded_token_bytes(uint64_t n_tokens) {
  return size_t((n_tokens * 4 + 7) / 8 * 8);
}

nlohmann::json expected_header(const Tokenizer& tok, const TextSource& src) {
  return {{"format", kFormatVersion}, {"tokenizer", tok.fingerprint()}, {"source", src.identity()}};
}

// Maps `path` and checks its layout and header; `why` says what is wrong when it returns false.
bool map_cache(const std::string& path, const nlohmann::json& want, std::shared_ptr<MappedFile>& map,
               std::string& why) {
  if (!file_exists(path)) {
    why = "absent";
    return false;
  }
  map = std::make_shared<MappedFile>(path);
  const uint8_t* p = map->data();
  const size_t size = map->size();
  if (size < 16 + kTrailer || std::memcmp(p, kMagic, 8) != 0 || std::memcmp(p + size - 8, kEndMagic, 8) != 0) {
    why = "torn or not a token cache (bad magic)";
    return false;
  }
  uint64_t t[4];
  std::memcpy(t, p + size - kTrailer, sizeof t);
  const uint64_t n_tokens = t[0], n_docs = t[1], header_bytes = t[2];
  const size_t expect = 16 + padded_token_bytes(n_tokens) + (n_docs + 1) * 8 + header_bytes + kTrailer;
  if (n_tokens > (uint64_t(1) << 40) || n_docs > (uint64_t(1) << 40) || header_bytes > size || expect != size) {
    why = "torn (its size does not match its trailer)";
    return false;
  }
  nlohmann::json header =
      nlohmann::json::parse(p + size - kTrailer - header_bytes, p + size - kTrailer, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    why = "torn (unreadable header)";
    return false;
  }
  for (const char* k : {"format", "tokenizer", "source"})
    if (header.value(k, nlohmann::json()) != want[k]) {
      why = std::string("stale (its ") + k + " differs)";
      return false;
    }
  return true;
}

// The documents of `src` tokenised on `threads` threads, written in order to `w`.
struct BuildResult {
  std::vector<uint64_t> offsets{0};
  bool complete = false;
  std::string tokens_sha256;  // of the ids (uint32, in order), then the offsets (uint64)
};

BuildResult tokenise(const Tokenizer& tok, const TextSource& src, const TokenCacheOptions& o, FileWriter& w) {
  BuildResult r;
  Sha256 hash;
  const int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t total_mb = std::max<int64_t>(1, int64_t(src.bytes() / 1000000));
  Progress progress("tokenising " + src.spec, total_mb, "MB");
  uint64_t bytes_done = 0;
  int64_t mb_reported = 0;
  std::vector<std::string> batch;
  size_t batch_chars = 0;
  std::vector<uint32_t> out;
  auto flush = [&] {
    std::vector<std::vector<int64_t>> ids(batch.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < batch.size();) ids[i] = tok.encode(batch[i], true);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads && size_t(t) < batch.size(); ++t) pool.emplace_back(work);
    std::exception_ptr err;
    try {
      work();
    } catch (...) {
      err = std::current_exception();
    }
    for (auto& th : pool) th.join();
    if (err) std::rethrow_exception(err);
    out.clear();
    for (const auto& d : ids) {
      for (int64_t id : d) {
        LEAP_CHECK(id >= 0 && id <= int64_t(UINT32_MAX), "token id %lld does not fit the uint32 cache", (long long)id);
        out.push_back(uint32_t(id));
      }
      r.offsets.push_back(r.offsets.back() + d.size());
    }
    w.write(out.data(), out.size() * 4);
    hash.update(out.data(), out.size() * 4);
    batch.clear();
    batch_chars = 0;
  };
  r.complete = for_each_document(
      src,
      [&](std::string_view d) {
        batch.emplace_back(d);
        batch_chars += d.size();
        if (batch_chars > (size_t(32) << 20) || batch.size() >= 8192) flush();
        return o.max_documents <= 0 || int64_t(r.offsets.size() - 1 + batch.size()) < o.max_documents;
      },
      [&](uint64_t n) {
        bytes_done += n;
        int64_t mb = int64_t(bytes_done / 1000000);
        if (mb > mb_reported) progress.advance(mb - mb_reported), mb_reported = mb;
      });
  if (!batch.empty()) flush();
  if (r.offsets.size() == 1) fail("%s: no documents", src.describe().c_str());
  hash.update(r.offsets.data(), r.offsets.size() * 8);
  r.tokens_sha256 = hash.hex_digest();
  if (r.complete && total_mb > mb_reported) progress.advance(total_mb - mb_reported);
  progress.finish(strformat("%zu documents, %llu tokens", r.offsets.size() - 1, (unsigned long long)r.offsets.back()));
  return r;
}

// Temporary files of earlier builds of `path` whose writer is gone (killed): removed, as they
// can be as large as the cache.
void remove_orphaned_temporaries(const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  const std::string prefix = "." + fs::path(path).filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string suffix = name.substr(prefix.size());  // <pid>.<n> (write_file_atomic)
    const std::string pid = suffix.substr(0, suffix.find('.'));
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!fs::exists("/proc/" + pid, ec)) fs::remove(e.path(), ec);
  }
}

void build_cache(const Tokenizer& tok, const TextSource& src, const TokenCacheOptions& o, const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  remove_orphaned_temporaries(path);
  write_file_atomic(path, [&](FileWriter& w) {
    uint64_t zero = 0;
    w.write(kMagic, 8);
    w.write(&zero, 8);
    BuildResult r = tokenise(tok, src, o, w);
    const uint64_t n_tokens = r.offsets.back(), n_docs = r.offsets.size() - 1;
    const size_t pad = padded_token_bytes(n_tokens) - size_t(n_tokens * 4);
    if (pad) w.write(&zero, pad);
    w.write(r.offsets.data(), r.offsets.size() * 8);
    nlohmann::json header = expected_header(tok, src);
    header["documents"] = n_docs;
    header["tokens"] = n_tokens;
    header["complete"] = r.complete;
    header["max_documents"] = o.max_documents;
    header["tokens_sha256"] = r.tokens_sha256;
    std::string hs = header.dump();
    w.write(hs);
    uint64_t trailer[4] = {n_tokens, n_docs, hs.size(), r.complete ? 1u : 0u};
    w.write(trailer, sizeof trailer);
    w.write(kEndMagic, 8);
  });
}

}  // namespace

std::string token_cache_path(const Tokenizer& tok, const TextSource& src, const TokenCacheOptions& o) {
  const std::string key = sha256_hex(expected_header(tok, src).dump());
  fs::path dir = o.cache_dir.empty() ? fs::path(leap_cache_dir()) / "tokens" : fs::path(o.cache_dir);
  return (dir / (key.substr(0, 24) + ".tok")).string();
}

TokenCache open_token_cache(const Tokenizer& tok, const TextSource& src, const TokenCacheOptions& o) {
  const std::string path = token_cache_path(tok, src, o);
  const nlohmann::json want = expected_header(tok, src);
  TokenCache c;
  auto usable = [&](std::string& why) {
    std::shared_ptr<MappedFile> map;
    if (!map_cache(path, want, map, why)) return false;
    const uint8_t* p = map->data();
    const size_t size = map->size();
    uint64_t t[4];
    std::memcpy(t, p + size - kTrailer, sizeof t);
    bool complete = t[3] != 0;
    if (!complete && (o.max_documents <= 0 || int64_t(t[1]) < o.max_documents)) {
      why = strformat("short (it holds the first %llu documents)", (unsigned long long)t[1]);
      return false;
    }
    c.map_ = map;
    c.n_tokens_ = int64_t(t[0]);
    c.n_docs_ = int64_t(t[1]);
    c.complete_ = complete;
    c.tokens_ = reinterpret_cast<const uint32_t*>(p + 16);
    c.offsets_ = reinterpret_cast<const uint64_t*>(p + 16 + padded_token_bytes(t[0]));
    c.header_ = nlohmann::json::parse(p + size - kTrailer - t[2], p + size - kTrailer);
    return true;
  };
  std::string why;
  if (usable(why)) return c;
  if (!o.build) {
    Stopwatch sw;
    while (!usable(why)) {
      if (sw.seconds() > o.timeout_seconds)
        fail(
            "waited %.0f s for the first local rank to write the token cache %s of %s (now %s); raise --data_timeout "
            "or build it first with `leap inspect data`",
            sw.seconds(), path.c_str(), src.spec.c_str(), why.c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return c;
  }
  if (why != "absent") LEAP_WARN("token cache %s is %s: rebuilding it", path.c_str(), why.c_str());
  Stopwatch sw;
  build_cache(tok, src, o, path);
  if (!usable(why)) fail("%s: the token cache just written is %s", path.c_str(), why.c_str());
  c.built_ = true;
  c.build_seconds_ = sw.seconds();
  return c;
}

}  // namespace leap
