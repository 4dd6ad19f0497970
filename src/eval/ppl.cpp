// ppl.cpp — see ppl.h.
#include "eval/ppl.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "data/documents.h"
#include "model/lm_loss.h"

namespace leap {
namespace fs = std::filesystem;

PplText load_ppl_text(const std::string& task, const std::string& data_dir, const std::string& file) {
  PplText t;
  t.task = task;
  if (task == "wikitext2") {
    t.path = (fs::path(data_dir) / "wikitext-2" / "raw" / "wikitext-test.txt").string();
    if (!file_exists(t.path))
      fail("wikitext2: data file %s not found (set --data_dir or LEAP_DATA_DIR)", t.path.c_str());
    std::string raw = read_file(t.path);
    t.text.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i)  // CRLF → LF
      if (!(raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n')) t.text.push_back(raw[i]);
    t.join = "rows joined by \"\\n\\n\" (CRLF normalised to LF)";
  } else if (task == "c4") {
    t.path = (fs::path(data_dir) / "c4" / "c4_sample.jsonl").string();
    if (!file_exists(t.path)) fail("c4: data file %s not found (set --data_dir or LEAP_DATA_DIR)", t.path.c_str());
    for (const std::string& doc : read_documents(t.path, nullptr)) {  // jsonl, field "text"
      if (!t.text.empty()) t.text.push_back(' ');
      t.text += doc;
    }
    t.join = "documents joined by \" \" (SparseGPT C4 protocol), first 256 windows";
    t.max_windows = 256;
  } else if (task == "ppl") {
    if (file.empty()) fail("task ppl needs --ppl_file FILE");
    t.path = file;
    t.text = read_file(file);
    t.join = "file as is";
  } else {
    fail("unknown perplexity task \"%s\" (wikitext2, c4, ppl)", task.c_str());
  }
  if (t.text.empty()) fail("%s: text is empty", t.path.c_str());
  t.sha256 = sha256_file(t.path);
  return t;
}

PplResult eval_ppl_ids(CausalLM& m, const std::vector<int64_t>& ids, int64_t seqlen, int64_t batch_size,
                       int64_t max_windows, const std::string& label) {
  LEAP_CHECK(seqlen >= 2, "--seqlen must be at least 2");
  LEAP_CHECK(batch_size >= 1, "--batch_size must be at least 1");
  PplResult r;
  r.seqlen = seqlen;
  r.tokens = int64_t(ids.size());
  int64_t n = r.tokens / seqlen;  // non-overlapping windows, tail dropped
  if (max_windows > 0) n = std::min(n, max_windows);
  if (n == 0)
    fail("%s: %lld tokens are fewer than one window of --seqlen %lld", label.c_str(), (long long)r.tokens,
         (long long)seqlen);
  r.windows = n;
  r.dropped_tail = r.tokens - n * seqlen;
  torch::NoGradGuard ng;
  torch::Tensor all = torch::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + n * seqlen)).view({n, seqlen});
  Progress prog(label, n, "windows");
  double sum = 0;
  for (int64_t b = 0; b < n; b += batch_size) {
    torch::Tensor x = all.slice(0, b, std::min(n, b + batch_size)).to(m->device());              // [B, L]
    torch::Tensor nll = next_token_nll(m, m->hidden(x).slice(1, 0, seqlen - 1), x.slice(1, 1));  // [B, L-1]
    torch::Tensor per_window = nll.to(torch::kFloat64).mean(1).cpu();
    for (int64_t i = 0; i < per_window.size(0); ++i) {
      double v = per_window[i].item<double>();
      if (!std::isfinite(v)) fail("%s: non-finite NLL in window %lld", label.c_str(), (long long)(b + i));
      r.window_nll.push_back(v);
      sum += v;
    }
    prog.advance(per_window.size(0), strformat("ppl %.3f", std::exp(sum / double(r.window_nll.size()))));
  }
  prog.finish(strformat("ppl %.4f", std::exp(sum / double(n))));
  r.mean_nll = sum / double(n);
  r.ppl = std::exp(r.mean_nll);
  return r;
}

}  // namespace leap
