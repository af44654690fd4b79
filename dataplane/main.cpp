// sipline: the SIP proxy's command line (socket mode).
//
//   sipline [--config FILE] [--log-level error|warn|info|debug]
//   sipline --check-config FILE
//   sipline --version | --help
//
// Exit codes: 0 clean stop (SIGINT/SIGTERM) or valid config; 1 runtime failure (a port in
// use, the store cannot be opened); 2 bad command line or configuration.
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "dataplane/allocator.hpp"
#include "dataplane/control_thread.hpp"
#include "dataplane/log.hpp"
#include "dataplane/runtime.hpp"

namespace {

using sipline::dataplane::kExitConfigError;
using sipline::dataplane::kExitOk;

constexpr std::string_view kDefaultConfig = "config/sipline.toml";

constexpr const char* kUsage =
    "usage: sipline [--config FILE] [--log-level LEVEL]\n"
    "       sipline --check-config FILE\n"
    "       sipline --version | --help\n"
    "\n"
    "Runs the SIP proxy in the foreground, logging to stderr.\n"
    "  --config FILE        configuration (TOML); default: config/sipline.toml\n"
    "  --log-level LEVEL    error, warn, info or debug; overrides [log] level\n"
    "  --check-config FILE  validate FILE and exit: 0 valid, 2 invalid (errors on stderr)\n"
    "  --version            print the version\n"
    "  --help               print this help\n"
    "Signals: SIGINT/SIGTERM stop cleanly; SIGUSR1 prints the per-worker counters.\n";

struct Options {
  std::string config_path{kDefaultConfig};
  std::optional<sipline::config::LogLevel> log_level;
  bool check_only = false;
  bool version = false;
  bool help = false;
  std::string error;  // a usage error
};

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--version") {
      options.version = true;
    } else if (arg == "--config" || arg == "--check-config") {
      const std::optional<std::string_view> path = value();
      if (!path) {
        options.error = std::string(arg) + " needs a FILE";
        return options;
      }
      options.config_path = std::string(*path);
      options.check_only = options.check_only || arg == "--check-config";
    } else if (arg == "--log-level") {
      const std::optional<std::string_view> text = value();
      options.log_level = text ? sipline::dataplane::log_level_from_text(*text) : std::nullopt;
      if (!options.log_level) {
        options.error = "--log-level needs error, warn, info or debug";
        return options;
      }
    } else {
      options.error = "unknown argument \"" + std::string(arg) + "\"";
      return options;
    }
  }
  return options;
}

// Every loader error on its own line ("FILE:LINE: what is wrong").
void print_config_errors(const sipline::config::LoadResult& result) {
  std::string text;
  for (const std::string& error : result.errors)
    text += error + "\n";
  sipline::dataplane::write_stderr(text);
}

void report_allocator() {
  const sipline::dataplane::AllocatorCheck check = sipline::dataplane::check_allocator();
  if (check.jemalloc) {
    SIPLINE_LOG_INFO("allocator: jemalloc %s", check.version.c_str());
  } else {
    SIPLINE_LOG_WARN("allocator: jemalloc not in use (%s)", check.problem.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  if (!options.error.empty()) {
    std::fprintf(stderr, "sipline: %s\n%s", options.error.c_str(), kUsage);
    return kExitConfigError;
  }
  if (options.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (options.version) {
    std::printf("sipline %s\n", SIPLINE_VERSION);
    return kExitOk;
  }

  const sipline::config::LoadResult loaded = sipline::config::load_config_file(options.config_path);
  if (!loaded.ok()) {
    print_config_errors(loaded);
    return kExitConfigError;
  }
  if (options.check_only) {
    std::printf("%s: ok\n", options.config_path.c_str());
    return kExitOk;
  }

  sipline::dataplane::set_log_level(options.log_level.value_or(loaded.config->log_level));
  // Before any thread exists, so every thread inherits the mask and the control thread reads
  // the signals from its signalfd.
  sipline::dataplane::block_control_signals();
  SIPLINE_LOG_INFO("sipline %s starting with %s", SIPLINE_VERSION, options.config_path.c_str());
  report_allocator();
  sipline::dataplane::release_freed_memory();
  return sipline::dataplane::run_proxy(loaded.config);
}
