// What sipblast prints: one line per second while it runs, a summary at the end, and the
// same numbers as one JSON object for scripts (bench/compare reads it).
#pragma once

#include <cstdint>
#include <string>

#include "bench/sipblast/engine.hpp"
#include "bench/sipblast/options.hpp"
#include "bench/sipblast/stats.hpp"

namespace sipline::sipblast {

// The kernel's UDP counters (/proc/net/snmp, IPv4, whole machine): receive-buffer overflows
// are where loopback drops datagrams under overload, and no socket counter shows them.
struct KernelUdp {
  std::uint64_t in_datagrams = 0;
  std::uint64_t in_errors = 0;
  std::uint64_t rcvbuf_errors = 0;
  std::uint64_t sndbuf_errors = 0;
  bool available = false;
};
KernelUdp read_kernel_udp();
KernelUdp difference(const KernelUdp& after, const KernelUdp& before);

// "calls", "transactions", "registrations" or "requests" (uas).
std::string_view unit_name(Role role);

std::string per_second_line(Role role, double at_s, const Totals& now, const Totals& before,
                            double interval_s);

struct RunContext {
  std::string load_average_start;  // /proc/loadavg, first three fields
  std::string load_average_end;
  KernelUdp kernel;              // difference over the run
  double msgs_per_s_steady = 0;  // mean of the full seconds after the first
  double cpu_user_s = 0;         // this process, getrusage() over the run
  double cpu_system_s = 0;
};

std::string summary(const Options& options, const RunReport& report, const RunContext& context);
std::string to_json(const Options& options, const RunReport& report, const RunContext& context);

std::string read_load_average();

}  // namespace sipline::sipblast
