// --reconstruct: SparseGPT's and ADMM's weight updates on a given keep mask (LayerPruner::
// reconstruct). On SparseGPT's own mask the SparseGPT update reproduces SparseGPT's pruned weights;
// on a Wanda mask both updates keep the mask exactly and lower the layer's reconstruction error
// ‖X Wᵀ − X Ŵᵀ‖ below plain masking; magnitude and Wanda have no update and refuse.
#include <map>

#include "base/error.h"
#include "prune/pruner.h"
#include "test_util.h"

namespace leap {
namespace {

struct Layer {
  torch::Tensor W, X;  // [out, in], calibration inputs [batches, tokens, in]
};

// Inputs with correlated, unequal columns (as real activations), so the OBS/ADMM updates matter.
Layer make_layer(int64_t out, int64_t in) {
  torch::manual_seed(3);
  torch::Tensor mix = torch::randn({in, in}) / std::sqrt(double(in)) + torch::eye(in);
  torch::Tensor scale = torch::rand({in}) * 3 + 0.1;
  return {torch::randn({out, in}), torch::randn({4, 64, in}).matmul(mix) * scale};
}

double recon_error(const Layer& l, const torch::Tensor& W) {
  torch::Tensor X = l.X.reshape({-1, l.X.size(-1)});
  return (X.matmul(l.W.t()) - X.matmul(W.t())).pow(2).sum().item<double>();
}

std::unique_ptr<LayerPruner> calibrated(const std::string& method, const Layer& l, PrunerOptions o = {}) {
  auto p = make_pruner(method, o, l.W.size(1), torch::kCPU);
  for (int64_t b = 0; b < l.X.size(0); ++b) p->add_batch(l.X[b]);
  return p;
}

TEST(Reconstruct, SparseGptOnItsOwnMaskReproducesSparseGpt) {
  Layer l = make_layer(48, 96);
  for (const char* type : {"unstructured", "2:4"}) {
    for (bool tensor_ops : {false, true}) {
      PrunerOptions o;
      o.sparsegpt_tensor_ops = tensor_ops;
      o.sparsegpt_blocksize = 32;
      torch::Tensor pruned = l.W.clone(), rebuilt = l.W.clone();
      torch::Tensor keep = calibrated("sparsegpt", l, o)->prune(pruned, 0.5, parse_sparsity_type(type));
      calibrated("sparsegpt", l, o)->reconstruct(rebuilt, keep);
      auto res = test::allclose(rebuilt, pruned, 1e-5);
      EXPECT_TRUE(res) << type << (tensor_ops ? " tensor ops" : " CPU loops");
      EXPECT_TRUE(torch::equal(rebuilt != 0, keep)) << type;
    }
  }
}

TEST(Reconstruct, KeepsAWandaMaskAndLowersTheError) {
  Layer l = make_layer(64, 128);
  torch::Tensor wanda = l.W.clone();
  torch::Tensor keep = calibrated("wanda", l)->prune(wanda, 0.6, SparsityPattern());
  const double masked = recon_error(l, wanda);
  std::map<std::string, double> err;
  for (const char* method : {"sparsegpt", "admm"}) {
    torch::Tensor W = l.W.clone();
    calibrated(method, l)->reconstruct(W, keep);
    EXPECT_TRUE(torch::equal(W.ne(0), keep)) << method << ": the mask changed";
    err[method] = recon_error(l, W);
    EXPECT_LT(err[method], 0.9 * masked) << method;
    std::cout << "[ " << method << " on a 60% Wanda mask ] reconstruction error " << err[method] << " vs " << masked
              << " masked (" << err[method] / masked << "x)\n";
  }
  // ADMM solves the least-squares problem on the mask; SparseGPT's one OBS pass approximates it
  EXPECT_LT(err["admm"], err["sparsegpt"]);
}

TEST(Reconstruct, MethodsWithoutAWeightUpdateRefuse) {
  Layer l = make_layer(8, 16);
  torch::Tensor W = l.W.clone(), keep = torch::ones({8, 16}, torch::kBool);
  for (const char* method : {"magnitude", "wanda"})
    EXPECT_NE(test::error_of([&] {
                calibrated(method, l)->reconstruct(W, keep);
              }).find("--reconstruct takes sparsegpt or admm"),
              std::string::npos)
        << method;
}

}  // namespace
}  // namespace leap
