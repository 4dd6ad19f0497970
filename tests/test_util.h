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
#include "model/model.h"
#include "prune/calibration.h"
#include "prune/layerwise.h"
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

// The Wanda keep masks LEAP starts from (its prior) for the model in `dir`, from `nsamples` x
// `seqlen` calibration tokens of the bundled TinyStories train split.
inline std::map<std::string, torch::Tensor> wanda_prior(const std::string& dir, const Tokenizer& tok, double sparsity,
                                                        int64_t nsamples, int64_t seqlen) {
  CausalLM p = load_model(dir, {});
  CalibData c = load_calibration(tok, source_dir() + "/data/tinystories/train.txt", nsamples, seqlen, 0);
  LayerwiseOptions lo;
  lo.method = "wanda";
  lo.sparsity = sparsity;
  return prune_layerwise(p, c.ids, lo);
}

}  // namespace leap::test
