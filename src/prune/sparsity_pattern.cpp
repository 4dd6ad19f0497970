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

namespace {
// Prune mask of the k lowest entries along `dim` of `score`, exactly as a stable ascending sort
// would choose them (equal values go in index order), by selection instead of a sort: t = the k-th
// smallest (kthvalue, O(n)); every entry below t goes, and of the entries equal to t the first
// k − #{< t} in index order. A NaN k-th value (NaN sorts last) falls back to the sort.
torch::Tensor lowest_k(const torch::Tensor& score, int64_t k, int64_t dim) {
  torch::Tensor t = std::get<0>(score.kthvalue(k, dim, /*keepdim=*/true));
  if (torch::isnan(t).any().item<bool>()) {
    torch::Tensor idx = std::get<1>(score.sort(/*stable=*/true, dim, /*descending=*/false)).narrow(dim, 0, k);
    return torch::zeros_like(score, torch::kBool).scatter(dim, idx, true);
  }
  torch::Tensor below = score < t;
  torch::Tensor equal = score == t;
  torch::Tensor ties = k - below.sum(dim, /*keepdim=*/true);  // how many of the equal ones go
  return below | (equal & (equal.cumsum(dim) <= ties));
}
}  // namespace

torch::Tensor keep_mask_per_row(const torch::Tensor& score, double s) {
  const int64_t k = int64_t(double(score.size(1)) * s);
  if (k == 0) return torch::ones_like(score, torch::kBool);
  return lowest_k(score, k, 1).logical_not_();
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
  if (k == 0) return torch::ones_like(score, torch::kBool);
  return lowest_k(score.flatten(), k, 0).logical_not_().view(score.sizes());
}

}  // namespace leap
