// sipline links jemalloc as its malloc (DESIGN.md §3: it serves the control plane; workers do
// not allocate per packet). Linking is not proof: this asks jemalloc itself.
#pragma once

#include <cstdint>
#include <string>

namespace sipline::dataplane {

struct AllocatorCheck {
  bool jemalloc = false;  // mallctl answered and malloc() is served by it
  std::string version;    // "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c"
  std::string problem;    // why not, when !jemalloc
};

AllocatorCheck check_allocator();

// Hands the pages of freed memory back to the kernel now instead of after jemalloc's decay
// time: called once after start-up, when the TOML document of a large config (a million
// [[users]] tables is ~0.7 GB of parse tree) has just been freed, so the resident size seen
// by operators and the memory benchmark is what the proxy keeps. False when jemalloc is not
// the allocator.
bool release_freed_memory();

// What the calling thread allocated and has not freed, in bytes of jemalloc's size classes
// (its thread.allocated minus thread.deallocated; 0 without jemalloc): the memory benchmarks
// take the difference across the work they measure.
std::int64_t thread_live_bytes();

}  // namespace sipline::dataplane
