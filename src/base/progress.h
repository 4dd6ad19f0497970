// progress.h — a progress line with rate and ETA for long loops (evaluation, calibration,
// training). On a terminal it redraws one line; otherwise it logs every ~10% (or 30 s).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace leap {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it");
  void advance(int64_t n = 1, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double elapsed_seconds() const;

 private:
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t last_logged_decile_ = -1;
  void print(const std::string& extra, bool final);
};

// Wall-clock seconds since construction.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

}  // namespace leap
