// error.h — leap's one exception type, printf-style string formatting and shapes for messages.
//
// Every user-facing failure (bad file, bad flag, unsupported model) is a leap::Error whose message
// names the file and the problem; main() prints it and exits non-zero. No torch, no fmt here, so
// the header is cheap and usable from torch-free code (parsers, fuzz targets).
#pragma once
#include <cstdarg>
#include <stdexcept>
#include <cstdint>
#include <string>
#include <vector>

namespace leap {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// printf-style formatting into a std::string.
std::string strformat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string vstrformat(const char* fmt, va_list ap);

// A shape for messages: "[64, 32]".
std::string shape_str(const std::vector<int64_t>& shape);

// Throws leap::Error with a formatted message.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace leap

// LEAP_CHECK(cond, fmt, ...): throw leap::Error(fmt, ...) when cond is false.
#define LEAP_CHECK(cond, ...)    \
  do {                           \
    if (!(cond)) {               \
      ::leap::fail(__VA_ARGS__); \
    }                            \
  } while (0)
