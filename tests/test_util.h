// test_util.h — helpers shared by leap's tests: fixture locations and tensor comparison with a
// max-difference report.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <string>
#include <torch/torch.h>

#include "base/error.h"
#include "base/log.h"
#include "leap/train_options.h"
#include "model/model.h"
#include "prune/calibration.h"
#include "prune/layerwise.h"
#include "prune/sparsity_pattern.h"
#include "text/tokenizer.h"

namespace leap::test {

// Folder the CTest fixture scripts write into (build/fixtures), or $LEAP_FIXTURES_DIR.
inline std::string fixtures_dir() {
  if (const char* d = std::getenv("LEAP_FIXTURES_DIR"); d && *d) return d;
  return LEAP_TEST_FIXTURES_DIR;
}
inline std::string source_dir() {
  return LEAP_SOURCE_DIR;
}
inline std::string python() {
  return LEAP_TEST_PYTHON;
}

// Warnings only while it lives: the training tables and step lines of a dozen runs would push a
// failure's message out of the part of the log a CI summary shows.
struct QuietLog {
  log::Level saved = log::level();
  QuietLog() { log::set_level(log::Level::warn); }
  ~QuietLog() { log::set_level(saved); }
};

// A fresh empty temporary folder for one test.
inline std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("leap_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

// Writes `bytes` to `path`, creating its folder (hostile inputs, hand-made files).
inline void put(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// The message of the leap::Error that f throws; "<no error>" when it throws none, and other
// exceptions marked as such (every bad input must end in a leap::Error naming the problem).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a leap::Error> ") + e.what();
  }
  return "<no error>";
}

// Asserts max |a - b| <= atol and reports the max difference and where it is.
inline ::testing::AssertionResult allclose(const torch::Tensor& a, const torch::Tensor& b, double atol) {
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  auto d = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs();
  double mx = d.max().item<double>();
  int64_t at = d.argmax().item<int64_t>();
  std::ostringstream msg;
  msg << "max |diff| = " << mx << " at flat index " << at << " (tolerance " << atol << ", mean |diff| "
      << d.mean().item<double>() << ")";
  if (std::isnan(mx) || mx > atol) return ::testing::AssertionFailure() << msg.str();
  return ::testing::AssertionSuccess() << msg.str();
}

// Central differences (f(x + εe_i) − f(x − εe_i)) / 2ε of a scalar function, element by element.
inline torch::Tensor finite_difference(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                                       const torch::Tensor& x, double eps) {
  torch::Tensor g = torch::zeros_like(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    torch::Tensor xp = x.detach().clone(), xm = x.detach().clone();
    xp.view({-1})[i] += eps;
    xm.view({-1})[i] -= eps;
    g.view({-1})[i] = (f(xp) - f(xm)) / (2 * eps);
  }
  return g;
}

// The Wanda keep masks LEAP starts from (its prior) for the model in `dir`, from `nsamples` x
// `seqlen` calibration tokens of the bundled TinyStories train split; N:M for an N:M pattern.
inline std::map<std::string, torch::Tensor> wanda_prior(const std::string& dir, const Tokenizer& tok, double sparsity,
                                                        int64_t nsamples, int64_t seqlen,
                                                        const SparsityPattern& pattern = {}) {
  CausalLM p = load_model(dir, {});
  CalibData c = load_calibration(tok, source_dir() + "/data/tinystories/train.txt", nsamples, seqlen, 0);
  LayerwiseOptions lo;
  lo.method = "wanda";
  lo.pattern = pattern;
  lo.sparsity = pattern_sparsity(pattern, sparsity);
  return prune_layerwise(p, c.ids, lo);
}

// Every group of m consecutive entries of each row of `keep` [out, in] keeps exactly n.
inline bool exactly_nm(const torch::Tensor& keep, int64_t n, int64_t m) {
  torch::Tensor per_group = keep.to(torch::kInt64).view({keep.size(0), keep.size(1) / m, m}).sum(-1);
  return (per_group == n).all().item<bool>();
}

// A LEAP run short enough for a test on stories260k: `steps` x `global_batch` sequences of
// `seqlen` tokens of the bundled TinyStories train split, micro-batch 1, no step lines.
inline TrainOptions tiny_train_options(int64_t steps = 12, int64_t global_batch = 2, int64_t seqlen = 128) {
  TrainOptions o;
  o.steps = steps;
  o.global_batch = global_batch;
  o.micro_batch = 1;
  o.seqlen = seqlen;
  o.log_every = 1000;
  o.train_data = source_dir() + "/data/tinystories/train.txt";
  return o;
}

}  // namespace leap::test
