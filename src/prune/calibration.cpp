// calibration.cpp — see calibration.h.
#include "prune/calibration.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "base/py_random.h"
#include "base/sha256.h"

namespace leap {

std::vector<std::string> read_documents(const std::string& path, std::string* format) {
  std::string raw = read_file(path);
  if (raw.empty()) fail("%s: file is empty", path.c_str());
  bool jsonl =
      path.size() >= 6 && (path.substr(path.size() - 6) == ".jsonl" || path.substr(path.size() - 5) == ".json");
  std::vector<std::string> docs;
  if (!jsonl) {
    if (format) *format = "text";
    docs.push_back(raw);
    return docs;
  }
  if (format) *format = "jsonl";
  size_t pos = 0, line_no = 0;
  while (pos < raw.size()) {
    size_t nl = raw.find('\n', pos);
    if (nl == std::string::npos) nl = raw.size();
    std::string line = raw.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = parse_json_checked(line, path + ":" + std::to_string(line_no));
    } catch (const nlohmann::json::exception& e) {
      fail("%s:%zu: not valid JSON: %s", path.c_str(), line_no, e.what());
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      fail("%s:%zu: expected an object with a string field \"text\"", path.c_str(), line_no);
    docs.push_back(j["text"].get<std::string>());
  }
  if (docs.empty()) fail("%s: no documents", path.c_str());
  return docs;
}

CalibData load_calibration(const Tokenizer& tok, const std::string& path, int64_t nsamples, int64_t seqlen,
                           uint64_t seed) {
  LEAP_CHECK(nsamples >= 1, "--nsamples must be at least 1");
  LEAP_CHECK(seqlen >= 2, "--calib_seqlen must be at least 2");
  CalibData c;
  c.path = path;
  c.sha256 = sha256_file(path);
  std::vector<std::string> docs = read_documents(path, &c.format);
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
