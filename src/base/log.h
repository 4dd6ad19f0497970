// log.h — leap's logging front end.
//
// The implementation (src/log.cpp) is the only translation unit that includes spdlog: the torch
// wheel ships its own fmt headers, which would shadow Debian's fmt that spdlog was built against.
// Keeping spdlog behind this string-only interface means no translation unit ever sees both.
// Rank 0 logs at the chosen level; other ranks log warnings and errors with a "[rank N]" prefix.
#pragma once
#include <string>

#include "base/error.h"

namespace leap::log {

enum class Level { debug = 1, info = 2, warn = 3, error = 4, off = 6 };

void set_level(Level level);
void set_rank(int rank);  // call once the distributed rank is known
Level level();

void debug(const std::string& msg);
void info(const std::string& msg);
void warn(const std::string& msg);
void error(const std::string& msg);
// Plain line on stdout (tables, results), not prefixed, unaffected by the rank filter on rank 0.
void out(const std::string& msg);

}  // namespace leap::log

#define LEAP_INFO(...) ::leap::log::info(::leap::strformat(__VA_ARGS__))
#define LEAP_WARN(...) ::leap::log::warn(::leap::strformat(__VA_ARGS__))
#define LEAP_DEBUG(...)                                                                                        \
  do {                                                                                                         \
    if (::leap::log::level() <= ::leap::log::Level::debug) ::leap::log::debug(::leap::strformat(__VA_ARGS__)); \
  } while (0)
