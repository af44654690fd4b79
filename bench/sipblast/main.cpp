// sipblast: a SIP-over-UDP load generator for loopback and network-namespace benchmarks.
// See bench/README.md ("sipblast") for roles, options and the measured figures.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/sipblast/engine.hpp"
#include "bench/sipblast/options.hpp"
#include "bench/sipblast/report.hpp"

namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) {
  g_interrupted.store(true);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sipline::sipblast;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  ParsedOptions parsed = parse_options(args);
  if (parsed.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "sipblast: %s\n(--help lists the options)\n", parsed.error.c_str());
    return 2;
  }
  const Options& options = parsed.options;
  // With --json - the JSON owns stdout; progress goes to stderr.
  FILE* progress = options.json_path == "-" ? stderr : stdout;
  setvbuf(stdout, nullptr, _IOLBF, 0);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  RunContext context;
  context.load_average_start = read_load_average();
  const KernelUdp kernel_before = read_kernel_udp();

  Engine engine(options);
  if (const std::string error = engine.start(); !error.empty()) {
    std::fprintf(stderr, "sipblast: %s\n", error.c_str());
    return 1;
  }
  // A watchdog above the engine's own bounds: generation, two timeouts, hold, slack.
  const double hard_limit_s =
      options.duration_s + 2 * options.timeout_ms / 1000.0 + options.hold_ms / 1000.0 + 5.0;
  const std::int64_t t0 = monotonic_ns();
  Totals before{};
  std::int64_t last_report = t0;
  std::vector<double> full_second_rates;
  while (!engine.finished()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::int64_t now = monotonic_ns();
    if (g_interrupted.load() || (now - t0) / 1e9 > hard_limit_s) engine.request_stop();
    if (now - last_report < 1'000'000'000) continue;
    const Totals totals = engine.snapshot();
    const double interval = (now - last_report) / 1e9;
    if (!options.quiet) {
      std::fprintf(
          progress, "%s\n",
          per_second_line(options.role, (now - t0) / 1e9, totals, before, interval).c_str());
    }
    const auto messages = [](const Totals& t) {
      return total(t, Stat::MsgsSent) + total(t, Stat::MsgsRecv);
    };
    full_second_rates.push_back(static_cast<double>(messages(totals) - messages(before)) /
                                interval);
    before = totals;
    last_report = now;
  }
  const RunReport report = engine.join();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  context.cpu_user_s = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6;
  context.cpu_system_s = usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  context.load_average_end = read_load_average();
  context.kernel = difference(read_kernel_udp(), kernel_before);
  // Steady rate: the full seconds after the first (ramp-up) and before the last (drain).
  if (full_second_rates.size() >= 3) {
    double sum = 0;
    for (std::size_t i = 1; i + 1 < full_second_rates.size(); ++i)
      sum += full_second_rates[i];
    context.msgs_per_s_steady = sum / static_cast<double>(full_second_rates.size() - 2);
  } else if (!full_second_rates.empty()) {
    context.msgs_per_s_steady = full_second_rates.front();
  }
  std::fputs(summary(options, report, context).c_str(), progress);
  if (!options.json_path.empty()) {
    const std::string json = to_json(options, report, context);
    if (options.json_path == "-") {
      std::fputs(json.c_str(), stdout);
    } else {
      std::ofstream file(options.json_path);
      file << json;
      if (!file) {
        std::fprintf(stderr, "sipblast: cannot write %s\n", options.json_path.c_str());
        return 1;
      }
    }
  }
  return 0;
}
