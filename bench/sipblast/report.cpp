#include "bench/sipblast/report.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace sipline::sipblast {

namespace {

std::uint64_t delta(const Totals& now, const Totals& before, Stat stat) {
  return total(now, stat) - total(before, stat);
}

std::string format(const char* pattern, auto... values) {
  char text[512];
  std::snprintf(text, sizeof text, pattern, values...);
  return text;
}

// Percentiles are reported in microseconds with one decimal: the histogram resolves 0.8 %.
std::string latency_json(const LatencyHistogram& histogram) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return format(
      "{\"count\":%llu,\"min_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
      "\"p99.9_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}",
      static_cast<unsigned long long>(histogram.count()), us(histogram.min()),
      us(histogram.value_at_percentile(50)), us(histogram.value_at_percentile(90)),
      us(histogram.value_at_percentile(99)), us(histogram.value_at_percentile(99.9)),
      us(histogram.max()), histogram.mean() / 1000.0);
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

}  // namespace

KernelUdp read_kernel_udp() {
  KernelUdp udp;
  std::ifstream snmp("/proc/net/snmp");
  std::string header, values;
  while (std::getline(snmp, header)) {
    if (!header.starts_with("Udp: ")) continue;
    if (!std::getline(snmp, values)) break;
    std::istringstream names(header), numbers(values);
    std::string name, skip;
    names >> skip;
    numbers >> skip;
    std::uint64_t value = 0;
    while (names >> name && numbers >> value) {
      if (name == "InDatagrams") udp.in_datagrams = value;
      if (name == "InErrors") udp.in_errors = value;
      if (name == "RcvbufErrors") udp.rcvbuf_errors = value;
      if (name == "SndbufErrors") udp.sndbuf_errors = value;
    }
    udp.available = true;
    break;
  }
  return udp;
}

KernelUdp difference(const KernelUdp& after, const KernelUdp& before) {
  KernelUdp result;
  result.available = after.available && before.available;
  result.in_datagrams = after.in_datagrams - before.in_datagrams;
  result.in_errors = after.in_errors - before.in_errors;
  result.rcvbuf_errors = after.rcvbuf_errors - before.rcvbuf_errors;
  result.sndbuf_errors = after.sndbuf_errors - before.sndbuf_errors;
  return result;
}

std::string read_load_average() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  file >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

std::string_view unit_name(Role role) {
  switch (role) {
    case Role::Uac:
    case Role::Both:
      return "calls";
    case Role::Options:
      return "transactions";
    case Role::Register:
      return "registrations";
    case Role::Uas:
      return "requests";
  }
  return "?";
}

std::string per_second_line(Role role, double at_s, const Totals& now, const Totals& before,
                            double interval_s) {
  const std::uint64_t sent = delta(now, before, Stat::MsgsSent);
  const std::uint64_t received = delta(now, before, Stat::MsgsRecv);
  const double msgs_rate = static_cast<double>(sent + received) / interval_s;
  if (role == Role::Uas) {
    return format("[%6.1fs] requests %7llu | msgs sent %8llu recv %8llu (%.0f/s) | errors %llu",
                  at_s, static_cast<unsigned long long>(delta(now, before, Stat::RequestsRecv)),
                  static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
                  msgs_rate,
                  static_cast<unsigned long long>(delta(now, before, Stat::ParseErrors) +
                                                  delta(now, before, Stat::SendErrors)));
  }
  const std::uint64_t attempted = delta(now, before, Stat::Attempted);
  return format(
      "[%6.1fs] %s attempted %7llu completed %7llu failed %5llu | msgs sent %8llu recv %8llu "
      "(%.0f/s) | retrans %llu timeouts %llu | rate %.0f/s",
      at_s, std::string(unit_name(role)).c_str(), static_cast<unsigned long long>(attempted),
      static_cast<unsigned long long>(delta(now, before, Stat::Completed)),
      static_cast<unsigned long long>(delta(now, before, Stat::Failed)),
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received), msgs_rate,
      static_cast<unsigned long long>(delta(now, before, Stat::Retransmissions)),
      static_cast<unsigned long long>(delta(now, before, Stat::Timeouts)),
      static_cast<double>(attempted) / interval_s);
}

std::string summary(const Options& options, const RunReport& report, const RunContext& context) {
  const Totals& t = report.totals;
  auto value = [&](Stat stat) { return static_cast<unsigned long long>(total(t, stat)); };
  const double generation = report.generation_s > 0 ? report.generation_s : report.elapsed_s;
  std::string out;
  out +=
      format("--- sipblast %s: %.2f s %s, %.2f s in all, %d thread(s), load %s -> %s\n",
             std::string(role_name(options.role)).c_str(), generation,
             options.role == Role::Uas ? "running" : "generating", report.elapsed_s, report.threads,
             context.load_average_start.c_str(), context.load_average_end.c_str());
  if (options.role != Role::Uas) {
    out += format(
        "%s: attempted %llu completed %llu failed %llu (timeouts %llu, status >= 300 %llu, "
        "abandoned %llu, bad %llu) skipped %llu\n",
        std::string(unit_name(options.role)).c_str(), value(Stat::Attempted),
        value(Stat::Completed), value(Stat::Failed), value(Stat::Timeouts),
        value(Stat::FailedStatus), value(Stat::Abandoned), value(Stat::BadResponses),
        value(Stat::SkippedTableFull));
    out += format("rate: %.0f %s/s attempted, %.0f/s completed\n",
                  static_cast<double>(value(Stat::Attempted)) / generation,
                  std::string(unit_name(options.role)).c_str(),
                  static_cast<double>(value(Stat::Completed)) / generation);
  } else {
    out += format("requests: %llu (INVITE %llu, ACK %llu, BYE %llu, other %llu)\n",
                  value(Stat::RequestsRecv), value(Stat::InvitesRecv), value(Stat::AcksRecv),
                  value(Stat::ByesRecv), value(Stat::OtherRequestsRecv));
  }
  out += format(
      "msgs: sent %llu recv %llu = %.0f msgs/s over the run (steady %.0f/s); retrans %llu; "
      "errors: parse %llu send %llu unmatched %llu duplicate %llu\n",
      value(Stat::MsgsSent), value(Stat::MsgsRecv),
      static_cast<double>(value(Stat::MsgsSent) + value(Stat::MsgsRecv)) / generation,
      context.msgs_per_s_steady, value(Stat::Retransmissions), value(Stat::ParseErrors),
      value(Stat::SendErrors), value(Stat::UnmatchedResponses), value(Stat::DuplicateResponses));
  for (std::size_t i = 0; i < kLatencyCount; ++i) {
    const LatencyHistogram& histogram = (*report.latency)[i];
    if (histogram.count() == 0) continue;
    out += format(
        "latency %-12s n=%llu p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  "
        "max %.1f us\n",
        std::string(latency_name(static_cast<Latency>(i))).c_str(),
        static_cast<unsigned long long>(histogram.count()),
        histogram.value_at_percentile(50) / 1000.0, histogram.value_at_percentile(90) / 1000.0,
        histogram.value_at_percentile(99) / 1000.0, histogram.value_at_percentile(99.9) / 1000.0,
        histogram.max() / 1000.0);
  }
  const double cpu = context.cpu_user_s + context.cpu_system_s;
  const double handled = static_cast<double>(value(Stat::MsgsSent) + value(Stat::MsgsRecv));
  out += format(
      "cpu: user %.2f s + system %.2f s = %.0f%% of one core over the run, %.2f us per "
      "message sent or received\n",
      context.cpu_user_s, context.cpu_system_s, 100.0 * cpu / report.elapsed_s,
      handled > 0 ? cpu * 1e6 / handled : 0.0);
  if (context.kernel.available) {
    out += format("kernel UDP (whole machine, IPv4): rcvbuf errors %llu, sndbuf errors %llu\n",
                  static_cast<unsigned long long>(context.kernel.rcvbuf_errors),
                  static_cast<unsigned long long>(context.kernel.sndbuf_errors));
  }
  return out;
}

std::string to_json(const Options& options, const RunReport& report, const RunContext& context) {
  const Totals& t = report.totals;
  const double generation = report.generation_s > 0 ? report.generation_s : report.elapsed_s;
  std::string out = "{";
  out += "\"tool\":\"sipblast\",\"role\":" + json_string(role_name(options.role));
  out += ",\"unit\":" + json_string(unit_name(options.role));
  if (options.target) out += ",\"target\":" + json_string(options.target->text());
  out += format(",\"rate\":%.3f,\"duration_limit_s\":%.3f,\"calls_limit\":%llu", options.rate,
                options.duration_s, static_cast<unsigned long long>(options.calls));
  out +=
      format(",\"threads\":%d,\"sockets\":%d,\"batch\":%d,\"timeout_ms\":%u,\"hold_ms\":%u",
             report.threads, options.sockets, options.batch, options.timeout_ms, options.hold_ms);
  out += format(",\"elapsed_s\":%.6f,\"generation_s\":%.6f", report.elapsed_s, generation);
  for (std::size_t i = 0; i < kStatCount; ++i) {
    out += ",\"" + std::string(stat_name(static_cast<Stat>(i))) + "\":" + std::to_string(t[i]);
  }
  const double messages = static_cast<double>(total(t, Stat::MsgsSent) + total(t, Stat::MsgsRecv));
  out += format(
      ",\"attempted_per_s\":%.1f,\"completed_per_s\":%.1f,\"msgs_per_s\":%.1f,"
      "\"msgs_per_s_steady\":%.1f",
      static_cast<double>(total(t, Stat::Attempted)) / generation,
      static_cast<double>(total(t, Stat::Completed)) / generation, messages / generation,
      context.msgs_per_s_steady);
  out += format(",\"cpu_user_s\":%.3f,\"cpu_system_s\":%.3f", context.cpu_user_s,
                context.cpu_system_s);
  out += ",\"latency\":{";
  for (std::size_t i = 0; i < kLatencyCount; ++i) {
    if (i != 0) out += ",";
    out += json_string(latency_name(static_cast<Latency>(i))) + ":" +
           latency_json((*report.latency)[i]);
  }
  out += "}";
  out += format(
      ",\"kernel_udp\":{\"available\":%s,\"in_datagrams\":%llu,\"in_errors\":%llu,"
      "\"rcvbuf_errors\":%llu,\"sndbuf_errors\":%llu}",
      context.kernel.available ? "true" : "false",
      static_cast<unsigned long long>(context.kernel.in_datagrams),
      static_cast<unsigned long long>(context.kernel.in_errors),
      static_cast<unsigned long long>(context.kernel.rcvbuf_errors),
      static_cast<unsigned long long>(context.kernel.sndbuf_errors));
  out += ",\"load_average_start\":" + json_string(context.load_average_start);
  out += ",\"load_average_end\":" + json_string(context.load_average_end);
  out += "}\n";
  return out;
}

}  // namespace sipline::sipblast
