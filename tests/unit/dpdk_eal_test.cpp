// Starting EAL from configuration text: refused arguments and stray words give one clear
// line, and EAL starts once per process. No global environment here: these tests drive
// EAL themselves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "dataplane/dpdk/eal.hpp"

namespace sipline::dataplane::dpdk {
namespace {

std::vector<std::string> test_arguments() {
  return {"--no-pci",
          "--no-huge",
          "-m",
          "64",
          "--no-shconf",
          "--no-telemetry",
          "-l",
          "0",
          "--log-level=lib.eal:critical",
          "--file-prefix=sipline_dpdk_eal_" + std::to_string(::getpid())};
}

// In a fresh process of its own (EAL keeps state even from a failed start).
TEST(DpdkEal, UnknownOptionIsRefusedWithTheArgumentsAndAHint) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto arguments = test_arguments();
        arguments.push_back("--no-such-option");
        const EalStart refused = start_eal(arguments);
        std::fprintf(stderr, "[%s]\n", refused.error.c_str());
        const EalStart retried = start_eal(test_arguments());
        std::fprintf(stderr, "[%s]\n", retried.error.c_str());
        std::_Exit(refused.ok() ? 0 : 3);
      },
      ::testing::ExitedWithCode(3),
      "\\[rte_eal_init\\(--no-pci .*--no-such-option\\) failed: Invalid argument - invalid EAL "
      "arguments\\]\n\\[EAL failed to start earlier in this process and cannot be retried\\]");
}

TEST(DpdkEal, StrayWordIsRefusedAndEalStartsOnlyOnce) {
  // EAL accepts the options and silently ignores a word that is not one: we do not.
  auto stray = test_arguments();
  stray.insert(stray.begin() + 2, "512");
  const EalStart with_stray = start_eal(stray);
  EXPECT_EQ(with_stray.error,
            "unrecognised EAL arguments: 512 (EAL options start with '-'; check [dataplane] eal)");
  const EalStart again = start_eal(test_arguments());
  EXPECT_EQ(again.error, "EAL failed to start earlier in this process and cannot be retried");
}

}  // namespace
}  // namespace sipline::dataplane::dpdk
