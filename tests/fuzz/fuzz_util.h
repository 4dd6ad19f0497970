// fuzz_util.h — shared by the libFuzzer targets: a per-process scratch folder for readers that take
// paths, and the rule every target enforces: a reader may only fail with leap::Error (a clear
// message naming the file); anything else escaping — another exception type, a crash, a sanitizer
// report — is a finding.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "base/error.h"

namespace leap::fuzz {

inline const std::string& scratch() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string d = std::string(t && *t ? t : "/tmp") + "/leap_fuzz_" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string put(const std::string& name, const uint8_t* data, size_t size) {
  std::string p = scratch() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return p;
}

// Runs fn; leap::Error is the expected way to reject input. Its message must name `must_name`.
template <class F>
void expect_clean(F fn, const std::string& must_name) {
  try {
    fn();
  } catch (const leap::Error& e) {
    if (!must_name.empty() && std::string(e.what()).find(must_name) == std::string::npos) {
      std::fprintf(stderr, "error message does not name %s: %s\n", must_name.c_str(), e.what());
      std::abort();
    }
  }
}

}  // namespace leap::fuzz
