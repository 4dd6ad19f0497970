// tasks.cpp — see tasks.h.
#include "eval/tasks.h"

#include <cmath>
#include <map>
#include <numeric>

#include "base/error.h"
#include "base/log.h"
#include "base/progress.h"
#include "text/unicode.h"

namespace leap {
using ojson = nlohmann::ordered_json;

LoglikelihoodScorer::LoglikelihoodScorer(CausalLM& m, const Tokenizer& tok, int64_t max_length, int64_t batch_size)
    : m_(m), tok_(tok), max_length_(max_length), batch_size_(std::max<int64_t>(1, batch_size)) {
  LEAP_CHECK(max_length_ >= 2, "max_length must be at least 2");
}

std::vector<int64_t> LoglikelihoodScorer::tok_encode(const std::string& s) const {
  // HFLM.tok_encode: default special tokens, unless the text already starts with the BOS string
  bool add = true;
  if (tok_.bos_id()) {
    std::string bos = tok_.piece(*tok_.bos_id());
    if (!bos.empty() && s.rfind(bos, 0) == 0) add = false;
  }
  return tok_.encode(s, add);
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> LoglikelihoodScorer::encode_pair(
    const std::string& context, const std::string& continuation) const {
  std::string ctx = context, cont = continuation;
  // n_spaces = len(context) - len(context.rstrip()): Python's whitespace, per code point
  auto cps = unicode::decode_utf8(ctx);
  size_t keep = cps.size();
  auto py_space = [](uint32_t c) { return unicode::is_white_space(c) || (c >= 0x1C && c <= 0x1F); };
  while (keep > 0 && py_space(cps[keep - 1])) --keep;
  if (keep < cps.size()) {
    std::string head = unicode::encode_utf8(std::vector<uint32_t>(cps.begin(), cps.begin() + long(keep)));
    cont = ctx.substr(head.size()) + cont;
    ctx = head;
  }
  std::vector<int64_t> whole = tok_encode(ctx + cont);
  std::vector<int64_t> cenc = tok_encode(ctx);
  std::vector<int64_t> contenc(whole.begin() + long(std::min(cenc.size(), whole.size())), whole.end());
  return {cenc, contenc};
}

std::vector<LLResult> LoglikelihoodScorer::score(const std::vector<LLRequest>& reqs, const std::string& label) {
  torch::NoGradGuard ng;
  truncated_ = 0;
  struct Seq {
    std::vector<int64_t> inp;                                   // model input
    std::vector<std::pair<size_t, std::vector<int64_t>>> uses;  // (request, continuation tokens)
  };
  std::vector<Seq> seqs;
  std::map<std::vector<int64_t>, size_t> one_token;  // inp → seq, for single-token continuations
  for (size_t r = 0; r < reqs.size(); ++r) {
    auto [cenc, contenc] = encode_pair(reqs[r].context, reqs[r].continuation);
    if (reqs[r].context.empty()) cenc = {tok_.bos_id() ? *tok_.bos_id() : (tok_.eos_id() ? *tok_.eos_id() : 0)};
    if (contenc.empty()) fail("%s: request %zu has an empty continuation after tokenisation", label.c_str(), r);
    if (int64_t(contenc.size()) > max_length_) {
      // lm-eval asserts here; leap scores the last max_length continuation tokens (the ones the
      // window can predict) and says so once per call
      if (truncated_++ == 0)
        LEAP_WARN(
            "%s: continuation of request %zu has %zu tokens, more than max_length %lld; scoring its last %lld tokens "
            "(lm-eval would stop with an assertion)",
            label.c_str(), r, contenc.size(), (long long)max_length_, (long long)max_length_);
      cenc = {contenc[contenc.size() - size_t(max_length_) - 1]};  // the token before the scored tail
      contenc.erase(contenc.begin(), contenc.end() - max_length_);
    }
    std::vector<int64_t> all = cenc;
    all.insert(all.end(), contenc.begin(), contenc.end());
    size_t start = all.size() > size_t(max_length_ + 1) ? all.size() - size_t(max_length_ + 1) : 0;
    std::vector<int64_t> inp(all.begin() + long(start), all.end() - 1);
    if (contenc.size() == 1) {
      auto it = one_token.find(inp);
      if (it != one_token.end()) {
        seqs[it->second].uses.emplace_back(r, contenc);
        continue;
      }
      one_token.emplace(inp, seqs.size());
    }
    seqs.push_back({std::move(inp), {{r, contenc}}});
  }
  // longest first, so batches hold similar lengths (as lm-eval's Collator)
  std::vector<size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return seqs[a].inp.size() > seqs[b].inp.size(); });
  std::vector<LLResult> out(reqs.size());
  Progress prog(label, int64_t(reqs.size()), "req");
  for (size_t b = 0; b < order.size(); b += size_t(batch_size_)) {
    size_t e = std::min(order.size(), b + size_t(batch_size_));
    int64_t L = int64_t(seqs[order[b]].inp.size());
    torch::Tensor ids = torch::zeros({int64_t(e - b), L}, torch::kInt64);
    auto acc = ids.accessor<int64_t, 2>();
    for (size_t i = b; i < e; ++i)
      for (size_t t = 0; t < seqs[order[i]].inp.size(); ++t) acc[int64_t(i - b)][int64_t(t)] = seqs[order[i]].inp[t];
    torch::Tensor h = m_->hidden(ids.to(m_->device()));  // [B, L, H]
    // The LM head only where a continuation token is predicted (the context's logits are never
    // used): rows (i, inplen - clen ... inplen - 1) of every use, in order.
    std::vector<int64_t> rows;
    for (size_t i = b; i < e; ++i) {
      const Seq& s = seqs[order[i]];
      const int64_t inplen = int64_t(s.inp.size());
      for (const auto& use : s.uses)
        for (int64_t t = inplen - int64_t(use.second.size()); t < inplen; ++t) rows.push_back(int64_t(i - b) * L + t);
    }
    torch::Tensor idx = torch::tensor(rows, torch::kInt64).to(h.device());
    torch::Tensor logits = m_->head(h.reshape({-1, h.size(2)}).index_select(0, idx));  // [rows, V]
    int64_t done = 0, row = 0;
    for (size_t i = b; i < e; ++i) {
      const Seq& s = seqs[order[i]];
      for (const auto& [r, cont] : s.uses) {
        int64_t clen = int64_t(cont.size());
        torch::Tensor lp = torch::log_softmax(logits.slice(0, row, row + clen).to(torch::kFloat32), -1);
        row += clen;
        torch::Tensor tgt = torch::tensor(cont, torch::kInt64).to(lp.device());
        double ll = lp.gather(1, tgt.unsqueeze(1)).sum().item<double>();
        bool greedy = torch::equal(lp.argmax(-1), tgt);
        out[r] = {ll, greedy};
        ++done;
      }
    }
    prog.advance(done);
  }
  prog.finish();
  return out;
}

std::pair<double, double> mean_and_stderr(const std::vector<double>& xs) {
  const double n = double(xs.size());
  if (xs.empty()) return {std::nan(""), std::nan("")};
  double mu = std::accumulate(xs.begin(), xs.end(), 0.0) / n;
  if (xs.size() <= 1) return {mu, std::nan("")};
  double ss = 0;
  for (double x : xs) ss += (x - mu) * (x - mu);
  return {mu, std::sqrt(ss / (n - 1)) / std::sqrt(n)};
}

namespace {
size_t argmax(const std::vector<double>& v) {  // first index on ties, as np.argmax
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;
  return best;
}
}  // namespace

TaskOutcome evaluate_task(LoglikelihoodScorer& scorer, const TaskData& task) {
  TaskOutcome o;
  o.name = task.name;
  std::vector<LLRequest> reqs;
  std::vector<std::pair<size_t, size_t>> span;  // per doc: [first request, count)
  for (const auto& d : task.docs) {
    size_t first = reqs.size();
    if (d.contexts.size() > 1)
      for (const auto& c : d.contexts) reqs.push_back({c, d.continuations[0]});  // partial scoring
    else
      for (const auto& c : d.continuations) reqs.push_back({d.contexts[0], c});
    span.emplace_back(first, reqs.size() - first);
  }
  std::vector<LLResult> res = scorer.score(reqs, task.name);
  std::vector<double> acc, acc_norm, lls, greedy;
  for (size_t di = 0; di < task.docs.size(); ++di) {
    const TaskDoc& d = task.docs[di];
    ojson s = {{"doc_id", di}};
    std::vector<double> ll;
    ojson resps = ojson::array();
    for (size_t k = 0; k < span[di].second; ++k) {
      const LLResult& r = res[span[di].first + k];
      ll.push_back(r.ll);
      resps.push_back({r.ll, r.greedy});
    }
    s["resps"] = resps;
    if (task.kind == "loglikelihood") {
      lls.push_back(ll[0]);
      greedy.push_back(res[span[di].first].greedy ? 1.0 : 0.0);
      s["perplexity"] = ll[0];
      s["acc"] = greedy.back();
    } else {
      size_t pred = argmax(ll);
      acc.push_back(pred == size_t(d.gold) ? 1.0 : 0.0);
      s["target"] = d.gold;
      s["pred"] = pred;
      s["acc"] = acc.back();
      if (d.contexts.size() == 1 && d.subject.empty()) {  // acc_norm: ll / len(choice) in code points
        std::vector<double> norm;
        for (size_t k = 0; k < ll.size(); ++k)
          norm.push_back(ll[k] / double(unicode::decode_utf8(d.choices[k]).size()));
        acc_norm.push_back(argmax(norm) == size_t(d.gold) ? 1.0 : 0.0);
        s["acc_norm"] = acc_norm.back();
      }
      o.subject.push_back(d.subject);
    }
    o.samples.push_back(s);
  }
  o.metrics["alias"] = task.name;
  if (task.kind == "loglikelihood") {
    auto [mll, sell] = mean_and_stderr(lls);
    o.metrics["perplexity,none"] = std::exp(-mll);
    // lm-eval bootstraps this stderr; the delta method gives the same quantity in closed form
    o.metrics["perplexity_stderr,none"] = std::exp(-mll) * sell;
    auto [ma, sa] = mean_and_stderr(greedy);
    o.metrics["acc,none"] = ma;
    o.metrics["acc_stderr,none"] = sa;
    o.acc = greedy;
  } else {
    auto [ma, sa] = mean_and_stderr(acc);
    o.metrics["acc,none"] = ma;
    o.metrics["acc_stderr,none"] = sa;
    if (!acc_norm.empty()) {
      auto [mn, sn] = mean_and_stderr(acc_norm);
      o.metrics["acc_norm,none"] = mn;
      o.metrics["acc_norm_stderr,none"] = sn;
    }
    o.acc = acc;
  }
  return o;
}

}  // namespace leap
