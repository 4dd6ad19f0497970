// layerwise.cpp — see layerwise.h.
#include "prune/layerwise.h"

#include "base/error.h"
#include "base/log.h"
#include "base/progress.h"

#include <torch/cuda.h>

namespace leap {

namespace {
// Waits for the device's queued kernels (nothing to wait for on the CPU), so that a host timer read
// after it has counted them.
void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize(dev.index());
}
}  // namespace

std::unique_ptr<LayerPruner> make_magnitude_pruner();
std::unique_ptr<LayerPruner> make_wanda_pruner(const PrunerOptions& o, int64_t in, const torch::Device& dev);
std::unique_ptr<LayerPruner> make_sparsegpt_pruner(const PrunerOptions& o, int64_t in, const torch::Device& dev);
std::unique_ptr<LayerPruner> make_admm_pruner(const PrunerOptions& o, int64_t in, const torch::Device& dev);

void LayerPruner::reconstruct(torch::Tensor&, const torch::Tensor&) {
  fail("this method has no weight update to run on a given mask (--reconstruct takes sparsegpt or admm)");
}

std::unique_ptr<LayerPruner> make_pruner(const std::string& method, const PrunerOptions& o, int64_t in,
                                         const torch::Device& dev) {
  if (method == "magnitude") return make_magnitude_pruner();
  if (method == "wanda") return make_wanda_pruner(o, in, dev);
  if (method == "sparsegpt") return make_sparsegpt_pruner(o, in, dev);
  if (method == "admm") return make_admm_pruner(o, in, dev);
  fail("unknown pruning method \"%s\" (magnitude, wanda, sparsegpt, admm, leap)", method.c_str());
}

std::map<std::string, torch::Tensor> prune_layerwise(CausalLM& m, const torch::Tensor& calib_ids,
                                                     const LayerwiseOptions& o) {
  torch::NoGradGuard ng;
  const torch::Device dev = m->device();
  const int64_t n_layers = m->config().num_layers;
  std::map<std::string, torch::Tensor> masks;
  const bool calibrated = o.method != "magnitude";
  LEAP_CHECK(o.block_sparsity.empty() || int64_t(o.block_sparsity.size()) == n_layers,
             "%zu block sparsities for a model of %lld blocks", o.block_sparsity.size(), (long long)n_layers);

  LayerwiseTimes t;
  torch::Tensor hidden;  // [N, L, H]: inputs of the current block
  std::pair<RopeTables, RopeTables> rope;
  int64_t N = 0;
  Stopwatch embed_sw;
  if (calibrated) {
    LEAP_CHECK(calib_ids.defined() && calib_ids.dim() == 2, "calibration ids must be [nsamples, seqlen]");
    N = calib_ids.size(0);
    rope = m->rope(calib_ids.size(1));
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < N; b += o.batch) {
      torch::Tensor h = m->embed(calib_ids.slice(0, b, std::min(N, b + o.batch)).to(dev));
      parts.push_back(o.offload_activations ? h.to(torch::kCPU) : h);
    }
    hidden = torch::cat(parts, 0);
    sync(dev);
    t.forward_s += embed_sw.seconds();
  }
  Progress prog((o.keep ? "reconstruct " : "prune ") + o.method, n_layers, "blocks");
  for (int64_t li = 0; li < n_layers; ++li) {
    std::vector<CausalLMImpl::NamedLinear> block = m->block_linears(li);
    std::vector<std::unique_ptr<LayerPruner>> pruners;
    // source[k]: the earlier linear whose input tensor linear k reads too (q/k/v, gate/up), whose
    // statistics it copies; −1: its own statistics. Decided on the first batch, checked on the others.
    std::vector<int64_t> source(block.size(), -1);
    // input of each linear in the current batch, held so that no later tensor can reuse its address
    std::vector<torch::Tensor> seen(block.size());
    int64_t batch_index = 0;
    for (size_t k = 0; k < block.size(); ++k) {
      pruners.push_back(make_pruner(o.method, o.pruner, block[k].linear->weight.size(1), dev));
      if (!calibrated) continue;
      block[k].linear->input_observer = [&, k](const torch::Tensor& x) {
        seen[k] = x;
        int64_t same = -1;
        if (o.share_statistics && pruners[k]->shares_statistics())
          for (size_t j = 0; j < k && same < 0; ++j)
            if (source[j] < 0 && seen[j].defined() && seen[j].data_ptr() == x.data_ptr() &&
                seen[j].sizes() == x.sizes() && seen[j].strides() == x.strides())
              same = int64_t(j);
        if (batch_index == 0) source[k] = same;
        LEAP_CHECK(source[k] == same,
                   "%s: the linears of block %lld changed their input sharing between calibration "
                   "batches",
                   o.method.c_str(), (long long)li);
        if (same < 0) {
          sync(dev);  // the forward's kernels so far belong to the forward
          Stopwatch sw;
          pruners[k]->add_batch(x);
          sync(dev);
          t.statistics_s += sw.seconds();
        }
      };
    }
    if (calibrated) {  // 1. statistics from the still-dense block
      const double statistics_before = t.statistics_s;
      Stopwatch sw;
      for (int64_t b = 0; b < N; b += o.batch, ++batch_index) {
        m->run_layer(li, hidden.slice(0, b, std::min(N, b + o.batch)).to(dev), rope);
        for (auto& x : seen) x = torch::Tensor();
      }
      sync(dev);
      t.forward_s += sw.seconds() - (t.statistics_s - statistics_before);
    }
    for (auto& l : block) l.linear->input_observer = nullptr;
    for (size_t k = 0; k < block.size(); ++k)
      if (source[k] >= 0) pruners[k]->copy_statistics_from(*pruners[size_t(source[k])]);
    // 2. prune every linear of the block (or update it on its given mask)
    Stopwatch solve_sw;
    double block_zeros = 0, block_numel = 0;
    for (size_t k = 0; k < block.size(); ++k) {
      torch::Tensor& W = block[k].linear->weight;
      torch::Tensor keep;
      if (o.keep) {
        auto it = o.keep->find(block[k].name);
        LEAP_CHECK(it != o.keep->end() && it->second.sizes() == W.sizes(),
                   "--reconstruct: no keep mask of shape [%lld, %lld] for %s", (long long)W.size(0),
                   (long long)W.size(1), block[k].name.c_str());
        keep = it->second.to(torch::kBool).to(dev);
        pruners[k]->reconstruct(W, keep);
      } else {
        keep = pruners[k]->prune(W, o.block_sparsity.empty() ? o.sparsity : o.block_sparsity[size_t(li)], o.pattern);
      }
      masks[block[k].name] = keep.to(torch::kCPU);
      block_zeros += double(keep.numel() - keep.sum().item<int64_t>());
      block_numel += double(keep.numel());
    }
    pruners.clear();
    sync(dev);
    t.solve_s += solve_sw.seconds();
    // 3. the pruned block's outputs are the next block's inputs
    Stopwatch forward_sw;
    if (calibrated && li + 1 < n_layers)
      for (int64_t b = 0; b < N; b += o.batch) {
        torch::Tensor out = m->run_layer(li, hidden.slice(0, b, std::min(N, b + o.batch)).to(dev), rope);
        if (!torch::isfinite(out).all().item<bool>())
          fail(
              "%s: block %lld (model.layers.%lld) produced non-finite activations (NaN/Inf) on calibration "
              "samples %lld..%lld after pruning; the weights or the calibration data overflow %s",
              o.method.c_str(), (long long)li, (long long)li, (long long)b, (long long)std::min(N, b + o.batch) - 1,
              std::string(c10::toString(out.scalar_type())).c_str());
        hidden.slice(0, b, std::min(N, b + o.batch)).copy_(out);
      }
    sync(dev);
    if (calibrated) t.forward_s += forward_sw.seconds();
    prog.advance(1, strformat("block %lld sparsity %.4f", (long long)li, block_zeros / block_numel));
  }
  prog.finish();
  LEAP_INFO("%s %s phases: forward passes %.2f s, statistics %.2f s, solve %.2f s", o.keep ? "reconstruct" : "prune",
            o.method.c_str(), t.forward_s, t.statistics_s, t.solve_s);
  if (o.times) *o.times = t;
  return masks;
}

}  // namespace leap
