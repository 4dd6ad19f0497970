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

LoglikelihoodScorer::LoglikelihoodScorer(CausalLM& m, const Tokenizer& tok, int64_t max_length, int64_t batch_size,
                                         bool share_prefixes)
    : m_(m),
      tok_(tok),
      max_length_(max_length),
      batch_size_(std::max<int64_t>(1, batch_size)),
      share_prefixes_(share_prefixes) {
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

LoglikelihoodScorer::Input LoglikelihoodScorer::model_input(const LLRequest& req, size_t index,
                                                            const std::string& label) {
  auto [cenc, contenc] = encode_pair(req.context, req.continuation);
  if (req.context.empty()) cenc = {tok_.bos_id() ? *tok_.bos_id() : (tok_.eos_id() ? *tok_.eos_id() : 0)};
  if (contenc.empty()) fail("%s: request %zu has an empty continuation after tokenisation", label.c_str(), index);
  if (int64_t(contenc.size()) > max_length_) {
    // lm-eval asserts here; leap scores the last max_length continuation tokens (the ones the
    // window can predict) and says so once per call
    if (truncated_++ == 0)
      LEAP_WARN(
          "%s: continuation of request %zu has %zu tokens, more than max_length %lld; scoring its last %lld tokens "
          "(lm-eval would stop with an assertion)",
          label.c_str(), index, contenc.size(), (long long)max_length_, (long long)max_length_);
    cenc = {contenc[contenc.size() - size_t(max_length_) - 1]};  // the token before the scored tail
    contenc.erase(contenc.begin(), contenc.end() - max_length_);
  }
  // (context + continuation)[-(max_length + 1):][:-1]
  std::vector<int64_t> all = cenc;
  all.insert(all.end(), contenc.begin(), contenc.end());
  size_t start = all.size() > size_t(max_length_ + 1) ? all.size() - size_t(max_length_ + 1) : 0;
  return {std::vector<int64_t>(all.begin() + long(start), all.end() - 1), std::move(contenc)};
}

namespace {

// One row of a batch: its inputs laid out as a token tree, each shared prefix once (a plain
// causal sequence when it holds one input). Node t: token[t], parent[t] (−1: none), depth[t]
// (its position); parents precede their children.
struct Row {
  std::vector<int64_t> token, parent, depth;
  std::map<std::pair<int64_t, int64_t>, int64_t> child;  // (parent, token) → node
  std::vector<std::pair<size_t, int64_t>> ends;          // (request, the node of its input's last token)
  size_t longest = 0;

  int64_t size() const { return int64_t(token.size()); }
  void add(size_t request, const std::vector<int64_t>& inp) {
    int64_t at = -1;
    for (int64_t t : inp) {
      auto [it, fresh] = child.try_emplace({at, t}, size());
      if (fresh) {
        token.push_back(t);
        parent.push_back(at);
        depth.push_back(at < 0 ? 0 : depth[size_t(at)] + 1);
      }
      at = it->second;
    }
    ends.emplace_back(request, at);
    longest = std::max(longest, inp.size());
  }
};

size_t common_prefix(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// Inputs → rows. Sharing: in lexicographic order (so an input's longest common prefix with any
// earlier one is the one with its predecessor), an input joins the current row when the linear
// layers' work its shared prefix saves exceeds the attention work joining adds — a tree row
// computes its whole masked S × S attention where a chain (one input) runs causal attention, about
// half of it — and the row stays within max(2048, its longest input) tokens (the [S, S] mask and
// scores). Without sharing: one row per distinct input.
// linear_per_pair: a token's linear-layer cost over one (query, key) pair's attention cost.
template <class Input>  // LoglikelihoodScorer::Input
std::vector<Row> pack_rows(const std::vector<Input>& in, bool share, double linear_per_pair) {
  std::vector<size_t> order(in.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return in[a].inp < in[b].inp; });
  std::vector<Row> rows;
  for (size_t k = 0; k < order.size(); ++k) {
    const std::vector<int64_t>& inp = in[order[k]].inp;
    bool join = false;
    if (k > 0) {
      const size_t lcp = common_prefix(inp, in[order[k - 1]].inp);
      join = lcp == inp.size() && lcp == in[order[k - 1]].inp.size();  // the same input
      if (share && !join && lcp > 0) {
        const Row& row = rows.back();
        const double S = double(row.size()), n = double(inp.size()), fresh = n - double(lcp);
        const double now = size_t(row.size()) == row.longest ? S * S / 2 : S * S;  // a chain runs causally
        const double saved = double(lcp) * linear_per_pair;                        // linears skip the prefix
        const double added = (S + fresh) * (S + fresh) - now - n * n / 2;          // one tree vs two rows
        const double cap = double(std::max<size_t>(2048, std::max(row.longest, inp.size())));
        join = saved > added && S + fresh <= cap;
      }
    }
    if (!join) rows.emplace_back();
    rows.back().add(order[k], inp);
  }
  return rows;
}

// A batch of rows as a token tree: ids, positions, visibility (padding sees itself only).
TokenTree tree_batch(const std::vector<const Row*>& rows, int64_t S) {
  const int64_t B = int64_t(rows.size());
  TokenTree t{torch::zeros({B, S}, torch::kInt64), torch::zeros({B, S}, torch::kInt64),
              torch::zeros({B, S, S}, torch::kBool)};
  auto ids = t.ids.accessor<int64_t, 2>();
  auto pos = t.positions.accessor<int64_t, 2>();
  auto vis = t.visible.accessor<bool, 3>();
  for (int64_t b = 0; b < B; ++b) {
    const Row& r = *rows[size_t(b)];
    for (int64_t n = 0; n < S; ++n) {
      if (n >= r.size()) {
        vis[b][n][n] = true;
        continue;
      }
      ids[b][n] = r.token[size_t(n)];
      pos[b][n] = r.depth[size_t(n)];
      for (int64_t a = n; a >= 0; a = r.parent[size_t(a)]) vis[b][n][a] = true;  // itself and its ancestors
    }
  }
  return t;
}

}  // namespace

std::vector<LLResult> LoglikelihoodScorer::score(const std::vector<LLRequest>& reqs, const std::string& label) {
  torch::NoGradGuard ng;
  Stopwatch sw;
  truncated_ = 0;
  stats_ = {};
  std::vector<Input> in;
  in.reserve(reqs.size());
  for (size_t r = 0; r < reqs.size(); ++r) {
    in.push_back(model_input(reqs[r], r, label));
    stats_.input_tokens += int64_t(in.back().inp.size());
  }
  const ModelConfig& c = m_->config();
  const double linear = double(c.hidden_size) * double(2 * (c.num_heads + c.num_kv_heads) * c.head_dim) +
                        3.0 * double(c.hidden_size) * double(c.intermediate_size);  // q, k, v, o; gate, up, down
  // a (query, key) pair: 2·heads·head_dim multiply-adds (scores and values), counted three times:
  // attention runs at a quarter to half the linears' rate on a CPU (LibTorch, 2 threads, S 64..400)
  std::vector<Row> rows = pack_rows(in, share_prefixes_, linear / double(3 * 2 * c.num_heads * c.head_dim));
  // longest first, so batches hold similar lengths (as lm-eval's Collator)
  std::vector<size_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].size() > rows[b].size(); });
  std::vector<LLResult> out(reqs.size());
  Progress prog(label, int64_t(reqs.size()), "req");
  for (size_t b = 0; b < order.size(); b += size_t(batch_size_)) {
    std::vector<const Row*> batch;
    for (size_t i = b; i < std::min(order.size(), b + size_t(batch_size_)); ++i) batch.push_back(&rows[order[i]]);
    const int64_t S = batch[0]->size();
    // a batch of chains (rows of one input) runs causally: the masked tree attention would compute
    // all S × S scores where causal attention skips half
    bool chains = true;
    for (const Row* r : batch) chains = chains && size_t(r->size()) == r->longest;
    torch::Tensor h;  // [B, S, H]
    if (!chains) {
      h = m_->hidden(tree_batch(batch, S));
    } else {
      torch::Tensor ids = torch::zeros({int64_t(batch.size()), S}, torch::kInt64);
      auto acc = ids.accessor<int64_t, 2>();
      for (size_t i = 0; i < batch.size(); ++i)
        for (int64_t t = 0; t < batch[i]->size(); ++t) acc[int64_t(i)][t] = batch[i]->token[size_t(t)];
      h = m_->hidden(ids.to(m_->device()));
    }
    // The LM head only at the nodes that predict a continuation token (the context's logits are
    // never used), each node once: for a continuation of k tokens, the last k nodes of its path.
    std::map<int64_t, int64_t> head_row;  // flat node (i·S + t) → row of `logits`
    std::vector<int64_t> nodes;
    std::vector<std::pair<size_t, std::vector<int64_t>>> uses;  // (request, head rows in continuation order)
    for (size_t i = 0; i < batch.size(); ++i) {
      const Row& r = *batch[i];
      stats_.model_tokens += r.size();
      ++stats_.rows;
      for (const auto& [req, end] : r.ends) {
        std::vector<int64_t> hr(in[req].cont.size());
        int64_t at = end;
        for (size_t j = hr.size(); j-- > 0; at = r.parent[size_t(at)]) {
          auto [it, fresh] = head_row.try_emplace(int64_t(i) * S + at, int64_t(nodes.size()));
          if (fresh) nodes.push_back(int64_t(i) * S + at);
          hr[j] = it->second;
        }
        uses.emplace_back(req, std::move(hr));
      }
    }
    torch::Tensor idx = torch::tensor(nodes, torch::kInt64).to(h.device());
    torch::Tensor logits = m_->head(h.reshape({-1, h.size(2)}).index_select(0, idx));  // [nodes, V]
    torch::Tensor lp = torch::log_softmax(logits.to(torch::kFloat32), -1);
    std::vector<int64_t> at_row, target;
    for (const auto& [req, hr] : uses)
      for (size_t j = 0; j < hr.size(); ++j) at_row.push_back(hr[j]), target.push_back(in[req].cont[j]);
    torch::Tensor rt = torch::tensor(at_row, torch::kInt64).to(lp.device());
    torch::Tensor tt = torch::tensor(target, torch::kInt64).to(lp.device());
    torch::Tensor tok_lp = lp.index({rt, tt}).to(torch::kFloat64).cpu();     // [uses' tokens]
    torch::Tensor tok_top = lp.argmax(-1).index_select(0, rt).eq(tt).cpu();  // is the target the argmax?
    const double* plp = tok_lp.data_ptr<double>();
    const bool* ptop = tok_top.data_ptr<bool>();
    size_t k = 0;
    for (const auto& [req, hr] : uses) {
      LLResult res{0.0, true};
      for (size_t j = 0; j < hr.size(); ++j, ++k) res.ll += plp[k], res.greedy = res.greedy && ptop[k];
      out[req] = res;
    }
    prog.advance(int64_t(uses.size()));
  }
  prog.finish();
  stats_.requests = int64_t(reqs.size());
  stats_.seconds = sw.seconds();
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
    if (!d.subject.empty()) s["subject"] = d.subject;
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
