// progress.cpp — see progress.h.
#include "base/progress.h"

#include <cstdio>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"

namespace leap {

std::string format_duration(double s) {
  if (s < 0) s = 0;
  if (s < 60) return strformat("%.1fs", s);
  int64_t t = int64_t(s + 0.5);
  if (t < 3600) return strformat("%lldm%02llds", (long long)(t / 60), (long long)(t % 60));
  return strformat("%lldh%02lldm", (long long)(t / 3600), (long long)((t % 3600) / 60));
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(int64_t n, const std::string& extra) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  int64_t decile = total_ > 0 ? done_ * 10 / total_ : 0;
  if (tty_ ? since > 0.2 : (decile > last_logged_decile_ || since > 30)) {
    last_logged_decile_ = decile;
    last_print_ = now;
    print(extra, false);
  }
}

void Progress::finish(const std::string& extra) {
  print(extra, true);
}

void Progress::print(const std::string& extra, bool final) {
  if (log::level() > log::Level::info) return;
  double el = elapsed_seconds();
  double rate = el > 0 ? double(done_) / el : 0;
  double eta = rate > 0 && total_ > done_ ? double(total_ - done_) / rate : 0;
  std::string line = strformat("%s %lld/%lld %s | %.1f %s/s | elapsed %s | eta %s", label_.c_str(), (long long)done_,
                               (long long)total_, unit_.c_str(), rate, unit_.c_str(), format_duration(el).c_str(),
                               format_duration(eta).c_str());
  if (!extra.empty()) line += " | " + extra;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  } else {
    log::info(line);
  }
}

}  // namespace leap
