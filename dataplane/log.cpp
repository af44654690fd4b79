#include "dataplane/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

namespace sipline::dataplane {
namespace {

std::atomic<LogLevel> current_level{LogLevel::Info};

}  // namespace

void set_log_level(LogLevel level) {
  current_level.store(level, std::memory_order_relaxed);
}

LogLevel log_level() {
  return current_level.load(std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) {
  return static_cast<std::uint8_t>(level) <= static_cast<std::uint8_t>(log_level());
}

void write_stderr(std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

void log(LogLevel level, const char* format, ...) {
  if (!log_enabled(level)) return;
  char line[1024];
  const std::string_view name = config::log_level_name(level);
  int used = std::snprintf(line, sizeof line, "sipline: %.*s: ", static_cast<int>(name.size()),
                           name.data());
  va_list args;
  va_start(args, format);
  const int message =
      std::vsnprintf(line + used, sizeof line - static_cast<std::size_t>(used), format, args);
  va_end(args);
  if (message > 0) used += message;
  // Keep room for the newline even when the message was cut.
  if (used > static_cast<int>(sizeof line) - 2) used = static_cast<int>(sizeof line) - 2;
  line[used++] = '\n';
  write_stderr({line, static_cast<std::size_t>(used)});
}

std::optional<LogLevel> log_level_from_text(std::string_view text) {
  for (LogLevel level : {LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug}) {
    if (config::log_level_name(level) == text) return level;
  }
  return std::nullopt;
}

}  // namespace sipline::dataplane
