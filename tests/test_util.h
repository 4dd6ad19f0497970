// test_util.h — helpers shared by leap's tests: fixture locations and tensor comparison with a
// max-difference report.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace leap::test {

// Folder the CTest fixture scripts write into (build/fixtures), or $LEAP_FIXTURES_DIR.
inline std::string fixtures_dir() {
  if (const char* d = std::getenv("LEAP_FIXTURES_DIR"); d && *d) return d;
  return LEAP_TEST_FIXTURES_DIR;
}
inline std::string source_dir() { return LEAP_SOURCE_DIR; }
inline std::string python() { return LEAP_TEST_PYTHON; }

// A fresh empty temporary folder for one test.
inline std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("leap_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

// Asserts max |a - b| <= atol and reports the max difference and where it is.
inline ::testing::AssertionResult allclose(const torch::Tensor& a, const torch::Tensor& b, double atol) {
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  auto d = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs();
  double mx = d.max().item<double>();
  int64_t at = d.argmax().item<int64_t>();
  std::ostringstream msg;
  msg << "max |diff| = " << mx << " at flat index " << at << " (tolerance " << atol << ", mean |diff| "
      << d.mean().item<double>() << ")";
  if (std::isnan(mx) || mx > atol) return ::testing::AssertionFailure() << msg.str();
  return ::testing::AssertionSuccess() << msg.str();
}

}  // namespace leap::test
