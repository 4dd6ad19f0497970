// Layer-wise pruning against independent PyTorch references (tests/python/make_prune_fixtures.py):
// calibration windows drawn exactly as Wanda/SparseGPT draw them, Wanda masks bit-identical to the
// reference flow on HF's model, SparseGPT and ADMM reconstruction errors no worse than the
// reference algorithms on the same layer inputs, exact sparsity per row/layer/group, valid N:M
// masks for every method, --reconstruct on Wanda masks (mask kept, held-out loss lower), and a
// saved checkpoint that HF transformers loads with the same logits.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/fs_util.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "model/hf_export.h"
#include "model/lm_loss.h"
#include "model/model.h"
#include "prune/calibration.h"
#include "prune/layerwise.h"
#include "prune/pruner.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace leap {
namespace {
namespace fs = std::filesystem;

std::string stories() {
  return test::source_dir() + "/data/stories260k";
}
const st::Reader& ref() {
  static st::Reader c(test::fixtures_dir() + "/prune/prune_reference.safetensors");
  return c;
}
torch::Tensor ref_tensor(const std::string& name) {
  return read_tensor(ref(), name).clone();
}

TEST(Calibration, WindowsEqualWandaSampling) {
  auto tok = load_tokenizer(stories());
  CalibData c = load_calibration(*tok, test::source_dir() + "/data/tinystories/train.txt", 16, 128, 0);
  EXPECT_TRUE(torch::equal(c.ids, ref_tensor("calib_ids")));
  EXPECT_EQ(c.format, "text");
  EXPECT_EQ(c.sha256.size(), 64u);
}

TEST(Wanda, MasksBitIdenticalToReference) {
  torch::Tensor calib = ref_tensor("calib_ids");
  for (int pct : {50, 60}) {
    CausalLM m = load_model(stories(), {});
    LayerwiseOptions o;
    o.method = "wanda";
    o.sparsity = pct / 100.0;
    o.batch = 4;
    auto masks = prune_layerwise(m, calib, o);
    ASSERT_EQ(masks.size(), 35u);
    int64_t differing = 0;
    for (const auto& [name, keep] : masks) {
      torch::Tensor r = ref_tensor("wanda" + std::to_string(pct) + "." + name).to(torch::kBool);
      differing += (keep != r).sum().item<int64_t>();
    }
    EXPECT_EQ(differing, 0) << pct << "%: masks differ in " << differing << " weights";
  }
}

struct Case {
  std::string method, linear;
  double sparsity;
  SparsityPattern pattern;
  std::string key;
};

TEST(LayerPruners, ReconstructionNoWorseThanReferenceAndExactSparsity) {
  auto errors = nlohmann::json::parse(read_file(test::fixtures_dir() + "/prune/prune_reference.json"))["errors"];
  std::vector<Case> cases;
  for (std::string method : {"sparsegpt", "admm"})
    for (std::string lin : {"q_proj", "down_proj"}) {
      cases.push_back({method, lin, 0.5, {}, "0.5"});
      cases.push_back({method, lin, 0.6, {}, "0.6"});
      cases.push_back({method, lin, 0.5, parse_sparsity_type("2:4"), "2:4"});
    }
  for (const auto& c : cases) {
    torch::Tensor X = ref_tensor("X." + c.linear), W = ref_tensor("W." + c.linear);
    auto p = make_pruner(c.method, {}, W.size(1), torch::kCPU);
    p->add_batch(X);
    torch::Tensor Wh = W.clone();
    torch::Tensor keep = p->prune(Wh, c.sparsity, c.pattern);
    torch::Tensor Xf = X.reshape({-1, X.size(-1)});
    double err = torch::linalg_norm(Xf.matmul(W.t()) - Xf.matmul(Wh.t())).item<double>();
    double ref_err = errors[c.method + "." + c.linear + "." + c.key].get<double>();
    std::string what = c.method + " " + c.linear + " " + c.key;
    EXPECT_LE(err, ref_err * (1 + 1e-3)) << what << ": leap " << err << " vs reference " << ref_err;
    std::cout << "[ " << what << " ] reconstruction error leap " << err << ", reference " << ref_err << "\n";
    EXPECT_TRUE(torch::equal(Wh == 0, keep.logical_not().logical_or(W == 0).logical_or(Wh == 0))) << what;
    EXPECT_EQ((Wh.masked_select(keep.logical_not()) != 0).sum().item<int64_t>(), 0)
        << what << ": pruned weights not zero";
    if (c.pattern.unstructured()) {
      EXPECT_EQ(keep.numel() - keep.sum().item<int64_t>(), int64_t(double(keep.numel()) * c.sparsity)) << what;
    } else {
      torch::Tensor per_group = keep.reshape({keep.size(0), -1, 4}).sum(-1);
      EXPECT_TRUE(torch::all(per_group == 2).item<bool>()) << what << ": not a valid 2:4 mask";
    }
  }
}

// SparseGPT's CPU column loops (rows in parallel) against its tensor-op column loop (the path of
// other devices) on the same layer: masks may differ only where float rounding of the lazy batch
// update (addmm vs sub of a product) flips a near-tie.
TEST(SparseGpt, CpuLoopsMatchTensorOps) {
  for (std::string lin : {"q_proj", "down_proj"})
    for (std::string type : {"unstructured", "2:4"}) {
      torch::Tensor X = ref_tensor("X." + lin), W = ref_tensor("W." + lin);
      PrunerOptions fast, ops;
      ops.sparsegpt_tensor_ops = true;
      SparsityPattern pat = parse_sparsity_type(type);
      torch::Tensor Wf = W.clone(), Wo = W.clone();
      auto pf = make_pruner("sparsegpt", fast, W.size(1), torch::kCPU),
           po = make_pruner("sparsegpt", ops, W.size(1), torch::kCPU);
      pf->add_batch(X);
      po->add_batch(X);
      torch::Tensor kf = pf->prune(Wf, 0.5, pat), ko = po->prune(Wo, 0.5, pat);
      const int64_t differ = (kf != ko).sum().item<int64_t>();
      const double maxdiff = (Wf - Wo).abs().max().item<double>(), scale = W.abs().max().item<double>();
      std::cout << "[ " << lin << " " << type << " ] masks differ in " << differ << " of " << kf.numel()
                << ", max |W diff| " << maxdiff << " (max |W| " << scale << ")\n";
      EXPECT_LE(differ, kf.numel() / 1000) << lin << " " << type;
      EXPECT_EQ(kf.sum().item<int64_t>(), ko.sum().item<int64_t>()) << lin << " " << type;
      if (differ == 0) {
        EXPECT_LE(maxdiff, 1e-4 * scale) << lin << " " << type;
      }
    }
}

// q/k/v and gate/up read the same input: one statistics pass each, copied; the result is the
// same as gathering them per linear, bit for bit.
TEST(LayerPruners, SharedStatisticsGiveTheSameModel) {
  torch::Tensor calib = ref_tensor("calib_ids").slice(0, 0, 8);
  for (std::string method : {"sparsegpt", "admm"}) {
    std::vector<CausalLM> models;
    for (bool share : {true, false}) {
      CausalLM m = load_model(stories(), {});
      LayerwiseOptions o;
      o.method = method;
      o.sparsity = 0.5;
      o.batch = 4;
      o.share_statistics = share;
      prune_layerwise(m, calib, o);
      models.push_back(m);
    }
    auto a = models[0]->named_parameters(), b = models[1]->named_parameters();
    for (auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << method << " " << p.key();
  }
}

TEST(LayerPruners, NMMasksValidForEveryMethodAndWandaRowsExact) {
  torch::Tensor calib = ref_tensor("calib_ids").slice(0, 0, 4);
  for (std::string method : {"magnitude", "wanda", "sparsegpt", "admm"}) {
    for (std::string type : {"2:4", "4:8"}) {
      CausalLM m = load_model(stories(), {});
      LayerwiseOptions o;
      o.method = method;
      o.pattern = parse_sparsity_type(type);
      o.sparsity = pattern_sparsity(o.pattern, 0);
      auto masks = prune_layerwise(m, calib, o);
      for (const auto& l : m->decoder_linears()) {
        const int64_t cols = l.linear->weight.size(1), full = cols / o.pattern.m * o.pattern.m;
        torch::Tensor w = l.linear->weight.slice(1, 0, full), k = masks[l.name].slice(1, 0, full);
        torch::Tensor nz = (w != 0).reshape({w.size(0), -1, o.pattern.m}).sum(-1);
        EXPECT_TRUE(torch::all(nz <= o.pattern.n).item<bool>()) << method << " " << type << " " << l.name;
        torch::Tensor kept = k.reshape({k.size(0), -1, o.pattern.m}).sum(-1);
        EXPECT_TRUE(torch::all(kept == o.pattern.n).item<bool>()) << method << " " << type << " " << l.name;
        if (full < cols) {  // trailing partial group (172 = 21·8 + 4 for 4:8)
          EXPECT_TRUE(torch::all((l.linear->weight.slice(1, full) != 0).sum(1) <= o.pattern.n).item<bool>()) << l.name;
        }
      }
    }
  }
  CausalLM m = load_model(stories(), {});
  LayerwiseOptions o;
  o.method = "wanda";
  o.sparsity = 0.5;
  prune_layerwise(m, calib, o);
  for (const auto& l : m->decoder_linears()) {  // Wanda: every row at exactly floor(in * s)
    torch::Tensor zeros_per_row = (l.linear->weight == 0).sum(1);
    EXPECT_TRUE(torch::all(zeros_per_row == l.linear->weight.size(1) / 2).item<bool>()) << l.name;
  }
}

// Mean next-token NLL of `ids` [N, L].
double mean_nll(CausalLM& m, const torch::Tensor& ids) {
  torch::NoGradGuard ng;
  return next_token_nll(m, m->hidden(ids).slice(1, 0, ids.size(1) - 1), ids.slice(1, 1)).mean().item<double>();
}

// Wanda's 60% masks, then the dense model reconstructed on them block by block (--reconstruct):
// every mask comes back unchanged, the weights are zero exactly off the mask, and the loss on
// sequences the reconstruction did not see is lower than with Wanda's masked weights.
TEST(LayerPruners, ReconstructOnWandaMasksKeepsThemAndLowersHeldOutLoss) {
  torch::Tensor all = ref_tensor("calib_ids");
  ASSERT_GE(all.size(0), 16);
  torch::Tensor calib = all.slice(0, 0, 8), held_out = all.slice(0, 8, 16);
  CausalLM w = load_model(stories(), {});
  LayerwiseOptions o;
  o.method = "wanda";
  o.sparsity = 0.6;
  const auto masks = prune_layerwise(w, calib, o);
  const double wanda = mean_nll(w, held_out);
  for (std::string method : {"sparsegpt", "admm"}) {
    CausalLM m = load_model(stories(), {});
    LayerwiseOptions r = o;
    r.method = method;
    r.keep = &masks;
    auto back = prune_layerwise(m, calib, r);
    for (const auto& l : m->decoder_linears()) {
      EXPECT_TRUE(torch::equal(back.at(l.name), masks.at(l.name))) << method << " " << l.name;
      EXPECT_TRUE(torch::equal(l.linear->weight != 0, masks.at(l.name))) << method << " " << l.name;
    }
    const double nll = mean_nll(m, held_out);
    EXPECT_LT(nll, wanda) << method;
    std::cout << "[ wanda 60% + " << method << " reconstruction ] held-out NLL " << nll << " vs " << wanda
              << " (Wanda's weights)\n";
  }
}

TEST(Checkpoint, LoadsInTransformersWithSameLogitsAndSparsity) {
  CausalLM m = load_model(stories(), {});
  LayerwiseOptions o;
  o.method = "sparsegpt";
  o.sparsity = 0.6;
  prune_layerwise(m, ref_tensor("calib_ids").slice(0, 0, 4), o);
  auto rows = measure_sparsity(m);
  int64_t z = 0, n = 0;
  for (const auto& r : rows) z += r.zeros, n += r.numel;
  std::string dir = test::temp_dir("ckpt") + "/pruned";
  export_hf_model(m, stories(), dir, {{"method", "sparsegpt"}, {"achieved_sparsity", double(z) / double(n)}});
  EXPECT_EQ(read_file(dir + "/config.json"), read_file(stories() + "/config.json"));
  EXPECT_EQ(read_file(dir + "/tokenizer.model"), read_file(stories() + "/tokenizer.model"));
  EXPECT_TRUE(file_exists(dir + "/leap_sparsity.json"));
  // leap's logits on the pruned model
  torch::Tensor ids = torch::arange(1, 41, torch::kInt64).view({2, 20});
  torch::Tensor logits;
  {
    torch::NoGradGuard ng;
    logits = m->forward(ids).contiguous();
  }
  write_safetensors(dir + "/../expect.safetensors", {{"ids", ids}, {"logits", logits}});
  std::string script = dir + "/../check.py";
  write_file_atomic(
      script,
      "import sys, torch, transformers\n"
      "from safetensors.torch import load_file\n"
      "d = sys.argv[1]; e = load_file(d + '/../expect.safetensors')\n"
      "m = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()\n"
      "with torch.no_grad(): l = m(e['ids']).logits\n"
      "diff = (l - e['logits']).abs().max().item()\n"
      "z = n = 0\n"
      "for k, p in m.named_parameters():\n"
      "    if any(t in k for t in ('q_proj','k_proj','v_proj','o_proj','gate_proj','up_proj','down_proj')):\n"
      "        z += (p == 0).sum().item(); n += p.numel()\n"
      "print('max diff', diff, 'sparsity', z / n)\n"
      "assert diff < 1e-5, diff\n"
      "assert z == " +
          std::to_string(z) + " and n == " + std::to_string(n) + ", (z, n)\n");
  std::string cmd = test::python() + " " + script + " " + dir;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // overwriting an existing output folder replaces it whole
  export_hf_model(m, stories(), dir, {{"method", "again"}});
  EXPECT_NE(read_file(dir + "/leap_sparsity.json").find("again"), std::string::npos);
  // a small shard limit gives HF-named shards with an index, which leap (and HF) load back
  std::string sharded = test::temp_dir("ckpt_sharded") + "/pruned";
  export_hf_model(m, stories(), sharded, {{"method", "sharded"}}, 200000);
  EXPECT_TRUE(file_exists(sharded + "/model.safetensors.index.json"));
  EXPECT_FALSE(file_exists(sharded + "/model.safetensors"));
  CausalLM back = load_model(sharded, {});
  auto a = m->named_parameters(), b = back->named_parameters();
  for (auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  int leftovers = 0;
  for (auto& e : fs::directory_iterator(fs::path(dir).parent_path()))
    leftovers += e.path().filename().string().rfind(".pruned", 0) == 0;
  EXPECT_EQ(leftovers, 0);
}

}  // namespace
}  // namespace leap
