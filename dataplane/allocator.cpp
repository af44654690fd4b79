#include "dataplane/allocator.hpp"

#include <jemalloc/jemalloc.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace sipline::dataplane {

AllocatorCheck check_allocator() {
  AllocatorCheck check;
  const char* version = nullptr;
  std::size_t size = sizeof version;
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) {
    check.problem = "mallctl(\"version\") failed";
    return check;
  }
  check.version = version;
  // The symbol being there does not prove that malloc() goes to it (another allocator could
  // have been preloaded): allocate through malloc and see jemalloc's per-thread counter move.
  std::uint64_t* allocated = nullptr;
  size = sizeof allocated;
  if (mallctl("thread.allocatedp", &allocated, &size, nullptr, 0) != 0 || allocated == nullptr) {
    check.problem = "mallctl(\"thread.allocatedp\") failed";
    return check;
  }
  // Volatile reads: the compiler knows malloc() writes no memory the program can see, and
  // would otherwise reuse the first read for the second.
  const volatile std::uint64_t* counter = allocated;
  const std::uint64_t before = *counter;
  void* volatile block = std::malloc(64 * 1024);
  const std::uint64_t after = *counter;
  std::free(block);
  if (after < before + 64 * 1024) {
    check.problem = "malloc() is not served by jemalloc";
    return check;
  }
  check.jemalloc = true;
  return check;
}

std::int64_t thread_live_bytes() {
  std::uint64_t allocated = 0;
  std::uint64_t deallocated = 0;
  std::size_t size = sizeof allocated;
  if (mallctl("thread.allocated", &allocated, &size, nullptr, 0) != 0 ||
      mallctl("thread.deallocated", &deallocated, &size, nullptr, 0) != 0) {
    return 0;
  }
  return static_cast<std::int64_t>(allocated - deallocated);
}

bool release_freed_memory() {
  // "arena.<i>.purge" with i = MALLCTL_ARENAS_ALL purges every arena's unused dirty pages.
  const std::string name = "arena." + std::to_string(MALLCTL_ARENAS_ALL) + ".purge";
  return mallctl(name.c_str(), nullptr, nullptr, nullptr, 0) == 0;
}

}  // namespace sipline::dataplane
