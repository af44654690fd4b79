// The runtime's log: one line per event on stderr, "sipline: <level>: message".
//
// Each line is formatted into a stack buffer and written with a single write(2), so lines
// from different threads never interleave. Workers log only events worth a human's
// attention and only the first time a condition happens (DESIGN.md §3), never per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.hpp"

namespace sipline::dataplane {

using LogLevel = config::LogLevel;

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);

// printf-style; the line is cut at 1 KiB.
void log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

#define SIPLINE_LOG_ERROR(...) \
  ::sipline::dataplane::log(::sipline::config::LogLevel::Error, __VA_ARGS__)
#define SIPLINE_LOG_WARN(...) \
  ::sipline::dataplane::log(::sipline::config::LogLevel::Warn, __VA_ARGS__)
#define SIPLINE_LOG_INFO(...) \
  ::sipline::dataplane::log(::sipline::config::LogLevel::Info, __VA_ARGS__)
#define SIPLINE_LOG_DEBUG(...)                                                    \
  do {                                                                            \
    if (::sipline::dataplane::log_enabled(::sipline::config::LogLevel::Debug))    \
      ::sipline::dataplane::log(::sipline::config::LogLevel::Debug, __VA_ARGS__); \
  } while (0)

// Writes `text` (one or more complete lines) to stderr in one write(2), regardless of level:
// counters and the "sipline: ready" line.
void write_stderr(std::string_view text);

// "error", "warn", "info", "debug" (as config/ spells them); std::nullopt otherwise.
std::optional<LogLevel> log_level_from_text(std::string_view text);

// A latch for "log the first time only": true exactly once per flag.
class FirstTime {
 public:
  bool operator()() { return !fired_.exchange(true, std::memory_order_relaxed); }

 private:
  std::atomic<bool> fired_{false};
};

}  // namespace sipline::dataplane
