// owl.cpp — see owl.h.
#include "prune/owl.h"

#include <algorithm>
#include <numeric>

#include "base/error.h"
#include "base/progress.h"

namespace leap {

std::vector<double> owl_sparsities(const std::vector<double>& outlier_pct, double sparsity, double lambda) {
  const auto [lo, hi] = std::minmax_element(outlier_pct.begin(), outlier_pct.end());
  std::vector<double> s(outlier_pct.size(), sparsity);
  if (outlier_pct.empty() || *hi == *lo) return s;  // nothing tells the blocks apart
  std::vector<double> d(outlier_pct.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = (outlier_pct[i] - *lo) * (1.0 / (*hi - *lo) * lambda * 2);  // D'
  const double mean = std::accumulate(d.begin(), d.end(), 0.0) / double(d.size());
  for (size_t i = 0; i < d.size(); ++i) s[i] = 1 - (d[i] - mean + (1 - sparsity));
  return s;
}

OwlAllocation owl_allocation(CausalLM& m, const torch::Tensor& calib_ids, double sparsity, double owl_m, double lambda,
                             int64_t batch) {
  torch::NoGradGuard ng;
  LEAP_CHECK(calib_ids.defined() && calib_ids.dim() == 2, "OWL: calibration ids must be [nsamples, seqlen]");
  const torch::Device dev = m->device();
  const int64_t N = calib_ids.size(0), n_layers = m->config().num_layers;
  auto rope = m->rope(calib_ids.size(1));
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < N; b += batch)
    parts.push_back(m->embed(calib_ids.slice(0, b, std::min(N, b + batch)).to(dev)));
  torch::Tensor hidden = torch::cat(parts, 0);  // [N, L, H]: inputs of the current block
  parts.clear();
  OwlAllocation out;
  Progress prog("OWL outlier ratios", n_layers, "blocks");
  for (int64_t li = 0; li < n_layers; ++li) {
    std::vector<CausalLMImpl::NamedLinear> block = m->block_linears(li);
    std::vector<torch::Tensor> a(block.size());  // [in] float32: Σ_s ‖X_{s,:,j}‖₂
    for (size_t k = 0; k < block.size(); ++k)
      block[k].linear->input_observer = [&a, k](const torch::Tensor& x) {  // x: [b, L, in]
        torch::Tensor n = x.to(torch::kFloat32).pow(2).sum(1).sqrt().sum(0);
        a[k] = a[k].defined() ? a[k] + n : n;
      };
    for (int64_t b = 0; b < N; b += batch) {  // the dense block: its statistics and the next block's inputs
      torch::Tensor h = hidden.slice(0, b, std::min(N, b + batch));
      h.copy_(m->run_layer(li, h, rope));
    }
    for (auto& l : block) l.linear->input_observer = nullptr;
    std::vector<torch::Tensor> z;  // |W| ⊙ a per linear, flattened
    for (size_t k = 0; k < block.size(); ++k)
      z.push_back((block[k].linear->weight.to(torch::kFloat32).abs() * a[k].unsqueeze(0)).flatten());
    torch::Tensor all = torch::cat(z);
    z.clear();
    const torch::Tensor threshold = all.mean() * owl_m;  // M · mean(z)
    out.outlier_pct.push_back(100.0 * double((all > threshold).sum().item<int64_t>()) / double(all.numel()));
    prog.advance(1, strformat("block %lld outliers %.3f%%", (long long)li, out.outlier_pct.back()));
  }
  prog.finish();
  out.block_sparsity = owl_sparsities(out.outlier_pct, sparsity, lambda);
  return out;
}

}  // namespace leap
