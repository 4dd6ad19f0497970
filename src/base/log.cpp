// log.cpp — spdlog behind base/log.h (see there for why this file stands alone).
#include "base/log.h"

#include <cstdio>
#include <mutex>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace leap::log {
namespace {

struct State {
  std::shared_ptr<spdlog::logger> logger;
  Level level = Level::info;
  int rank = 0;
  State() {
    logger = spdlog::stderr_color_mt("leap");
    logger->set_pattern("%^[%H:%M:%S %L]%$ %v");
    apply();
  }
  void apply() {
    Level eff = rank == 0 ? level : (level > Level::warn ? level : Level::warn);
    logger->set_level(static_cast<spdlog::level::level_enum>(static_cast<int>(eff)));
    if (rank != 0) logger->set_pattern("%^[%H:%M:%S %L]%$ [rank " + std::to_string(rank) + "] %v");
  }
};

State& state() {
  static State s;
  return s;
}

}  // namespace

void set_level(Level l) {
  state().level = l;
  state().apply();
}
void set_rank(int r) {
  state().rank = r;
  state().apply();
}
Level level() {
  return state().rank == 0 ? state().level : Level::warn;
}

void debug(const std::string& m) {
  state().logger->debug(m);
}
void info(const std::string& m) {
  state().logger->info(m);
}
void warn(const std::string& m) {
  state().logger->warn(m);
}
void error(const std::string& m) {
  state().logger->error(m);
}
void out(const std::string& m) {
  if (state().rank != 0) return;
  std::fwrite(m.data(), 1, m.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace leap::log
