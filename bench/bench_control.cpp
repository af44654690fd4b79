// Control-thread work that grows with the number of registrations (bench/README.md,
// "bench_control"): a full sweep of the NAT keep-alives (dataplane/nat_pinger.hpp) over a
// location table of N registrations, every one behind a NAT, with a sender that only counts
// (the datagrams' own cost is the kernel's or the NIC's, measured elsewhere). Reports the
// control thread's CPU per sweep and per contact, i.e. what nat_ping_interval costs, and the
// memory the pinger keeps per contact (with OPTIONS, when each was last heard from).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "dataplane/allocator.hpp"
#include "dataplane/nat_pinger.hpp"

namespace {

using sipline::dataplane::LocationTable;
using sipline::dataplane::NatPinger;
using sipline::dataplane::PeerAddress;
using sipline::dataplane::PipelineContext;

constexpr int kIntervalS = 30;

std::shared_ptr<const sipline::config::Config> config(bool options) {
  const sipline::config::LoadResult loaded = sipline::config::load_config_text(
      "[listen]\nudp = [\"127.0.0.1:5060\"]\n[domain]\nnames = [\"sipline.local\"]\n"
      "[registrar]\nstore = \"memory\"\nnat_ping_interval = " +
          std::to_string(kIntervalS) + (options ? "\nnat_ping = \"options\"\n" : "\n"),
      "bench_control.toml");
  return loaded.config;
}

// N AORs with one contact each: a private Contact, registered from a public mapping.
void fill(LocationTable& location, std::size_t registrations) {
  std::vector<sipline::dataplane::AorUpdate> updates;
  updates.reserve(registrations);
  char text[96];
  for (std::size_t i = 0; i < registrations; ++i) {
    sipline::sip::Binding binding;
    std::snprintf(text, sizeof text, "sip:u%zu@192.168.%zu.%zu:5060;transport=udp", i, i % 250,
                  i / 250 % 250 + 1);
    binding.contact = text;
    std::snprintf(text, sizeof text, "198.51.%zu.%zu:%zu", i / 60000 % 250, i % 250 + 1,
                  1024 + i % 60000);
    binding.received = text;
    std::snprintf(text, sizeof text, "reg-%zu", i);
    binding.call_id = text;
    binding.cseq = 1;
    binding.expires_at = 4'000'000'000;
    std::snprintf(text, sizeof text, "u%zu", i);
    updates.push_back({text, {std::move(binding)}, std::nullopt});
  }
  location.apply(std::move(updates));
  location.reclaim();
}

// state.range(1): 0 the double CRLF, 1 an OPTIONS per contact (written, its liveness kept).
void BM_NatPingSweep(benchmark::State& state) {
  const auto registrations = static_cast<std::size_t>(state.range(0));
  LocationTable location(1);
  fill(location, registrations);
  const std::unique_ptr<PipelineContext> context =
      PipelineContext::create(config(state.range(1) != 0), &location);
  const std::int64_t live_before = sipline::dataplane::thread_live_bytes();
  NatPinger pinger(*context, location);
  std::uint64_t sent = 0;
  pinger.set_sender([&sent](std::string_view, std::size_t, const PeerAddress&) {
    ++sent;
    return true;
  });
  std::int64_t now = 0;
  for (auto _ : state) {
    // One interval: every slice of the sweep.
    const std::int64_t end = now + kIntervalS * 1000;
    for (; now < end; now += NatPinger::kSliceMs)
      pinger.poll(now);
  }
  if (sent != registrations * static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("a contact was not pinged exactly once per sweep");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(sent));
  state.counters["contacts"] = static_cast<double>(registrations);
  // The pinger and what it keeps after its sweeps (the liveness map with OPTIONS).
  state.counters["pinger_bytes_per_contact"] =
      static_cast<double>(sipline::dataplane::thread_live_bytes() - live_before) /
      static_cast<double>(registrations);
}
BENCHMARK(BM_NatPingSweep)
    ->ArgsProduct({{10'000, 100'000, 1'000'000}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
