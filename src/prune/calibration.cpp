// calibration.cpp — see calibration.h.
#include "prune/calibration.h"

#include <unordered_map>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/py_random.h"
#include "base/sha256.h"
#include "data/documents.h"

namespace leap {

CalibData load_calibration(const Tokenizer& tok, const std::string& path, int64_t nsamples, int64_t seqlen,
                           uint64_t seed, const std::string& split, const std::string& text_field) {
  LEAP_CHECK(nsamples >= 1, "--nsamples must be at least 1");
  LEAP_CHECK(seqlen >= 2, "--calib_seqlen must be at least 2");
  CalibData c;
  c.path = path;
  TextSource src = resolve_text_source(path, split, text_field, "--calib_data");
  if (src.shards.size() == 1) {
    c.sha256 = sha256_file(src.shards[0].path);
  } else {
    c.sha256 = sha256_hex(src.identity().dump());
  }
  for (const Shard& s : src.shards)
    if (c.format.find(s.format) == std::string::npos) c.format += (c.format.empty() ? "" : "/") + s.format;
  std::vector<std::string> docs = read_documents(src);
  c.documents = int64_t(docs.size());
  std::unordered_map<int64_t, std::vector<int64_t>> cache;
  std::vector<bool> too_short(docs.size(), false);
  size_t n_short = 0;
  auto encoded = [&](int64_t i) -> const std::vector<int64_t>& {
    auto it = cache.find(i);
    if (it == cache.end()) it = cache.emplace(i, tok.encode(docs[size_t(i)], true)).first;
    return it->second;
  };
  PyRandom rng(seed);
  std::vector<int64_t> flat;
  flat.reserve(size_t(nsamples * seqlen));
  for (int64_t s = 0; s < nsamples; ++s) {
    const std::vector<int64_t>* enc = nullptr;
    while (true) {  // Wanda/SparseGPT get_c4: random documents until one is longer than seqlen
      int64_t i = rng.randint(0, int64_t(docs.size()) - 1);
      enc = &encoded(i);
      if (int64_t(enc->size()) > seqlen) break;
      if (!too_short[size_t(i)]) {
        too_short[size_t(i)] = true;
        if (++n_short == docs.size())
          fail("%s: no document is longer than --calib_seqlen %lld tokens", path.c_str(), (long long)seqlen);
      }
    }
    int64_t start = rng.randint(0, int64_t(enc->size()) - seqlen - 1);
    flat.insert(flat.end(), enc->begin() + start, enc->begin() + start + seqlen);
  }
  c.ids = torch::tensor(flat, torch::kInt64).view({nsamples, seqlen});
  return c;
}

}  // namespace leap
