// sparsity_pattern.cpp — see sparsity_pattern.h.
#include "prune/sparsity_pattern.h"

#include "base/error.h"

namespace leap {

std::string SparsityPattern::str() const {
  return unstructured() ? "unstructured" : strformat("%lld:%lld", (long long)n, (long long)m);
}

SparsityPattern parse_sparsity_type(const std::string& s) {
  if (s == "unstructured" || s == "0:0") return {};
  size_t c = s.find(':');
  if (c == std::string::npos) fail("--sparsity_type \"%s\": expected unstructured or N:M (e.g. 2:4)", s.c_str());
  SparsityPattern p;
  try {
    size_t used = 0;
    p.n = std::stoll(s.substr(0, c), &used);
    if (used != c) throw std::invalid_argument(s);
    p.m = std::stoll(s.substr(c + 1), &used);
    if (used != s.size() - c - 1) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    fail("--sparsity_type \"%s\": expected unstructured or N:M (e.g. 2:4)", s.c_str());
  }
  if (p.m <= 0 || p.n <= 0 || p.n >= p.m) fail("--sparsity_type %s: need 0 < N < M", s.c_str());
  return p;
}

double pattern_sparsity(const SparsityPattern& p, double requested) {
  if (p.unstructured()) {
    if (!(requested >= 0 && requested < 1)) fail("--sparsity %g must be in [0, 1)", requested);
    return requested;
  }
  double s = 1.0 - double(p.n) / double(p.m);
  if (requested > 0 && std::abs(requested - s) > 1e-9)
    fail("--sparsity %g does not match --sparsity_type %s (which means sparsity %g)", requested, p.str().c_str(), s);
  return s;
}

torch::Tensor keep_mask_per_row(const torch::Tensor& score, double s) {
  const int64_t k = int64_t(double(score.size(1)) * s);
  torch::Tensor keep = torch::ones_like(score, torch::kBool);
  if (k == 0) return keep;
  torch::Tensor idx = std::get<1>(score.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/false)).slice(1, 0, k);
  return keep.scatter(1, idx, false);
}

torch::Tensor keep_mask_nm(const torch::Tensor& score, const SparsityPattern& p) {
  const int64_t rows = score.size(0), cols = score.size(1), full = cols / p.m * p.m;
  torch::Tensor keep = torch::ones_like(score, torch::kBool);
  if (full > 0) {
    torch::Tensor g = score.slice(1, 0, full).reshape({rows, full / p.m, p.m});
    torch::Tensor idx = std::get<1>(g.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/false)).slice(2, 0, p.m - p.n);
    keep.slice(1, 0, full).copy_(torch::ones_like(g, torch::kBool).scatter(2, idx, false).reshape({rows, full}));
  }
  const int64_t tail = cols - full;  // a trailing partial group keeps its min(N, tail) largest
  if (tail > p.n) {
    torch::Tensor idx = std::get<1>(score.slice(1, full).sort(true, -1, false)).slice(1, 0, tail - p.n);
    keep.slice(1, full).scatter_(1, idx, false);
  }
  return keep;
}

torch::Tensor keep_mask_global(const torch::Tensor& score, double s) {
  const int64_t k = int64_t(double(score.numel()) * s);
  torch::Tensor flat = score.flatten();
  torch::Tensor keep = torch::ones_like(flat, torch::kBool);
  if (k > 0) {
    torch::Tensor idx = std::get<1>(flat.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false)).slice(0, 0, k);
    keep.index_put_({idx}, false);
  }
  return keep.view(score.sizes());
}

}  // namespace leap
