#include "dataplane/dpdk/eal.hpp"

#include <rte_eal.h>
#include <rte_errno.h>

#include <cerrno>
#include <vector>

namespace sipline::dataplane::dpdk {
namespace {

// rte_eal_init keeps pointers into argv (getopt permutes it and EAL remembers some values),
// so the strings live for the whole process.
std::vector<std::string>& argument_storage() {
  static std::vector<std::string> storage;
  return storage;
}

std::string joined(std::span<const std::string> args) {
  std::string text;
  for (const auto& arg : args) {
    if (!text.empty()) text += ' ';
    text += arg;
  }
  return text;
}

// What to do about the errno rte_eal_init leaves in rte_errno (documented in rte_eal.h).
std::string hint_for(int error) {
  switch (error) {
    case EACCES:
      return "permission denied: run as root, or use --no-huge -m 512 (or --in-memory with "
             "hugepages) and --no-pci";
    case EAGAIN:
      return "bus or memory probe failed: check that hugepages are reserved "
             "(/proc/meminfo HugePages_Free) or use --no-huge -m 512";
    case EFAULT:
      return "the tailq configuration is corrupt (another DPDK process with the same "
             "--file-prefix?): use --no-shconf or a unique --file-prefix";
    case ENODEV:
      return "memory setup failed (no hugepages mounted?): use --no-huge -m 512, or reserve "
             "hugepages and use --in-memory";
    case ENOMEM:
      return "not enough memory for EAL: raise -m, or reserve more hugepages";
    case ENOTSUP:
      return "a requested feature is not supported on this machine";
    case EPROTO:
      return "the kernel refused the EAL set-up (IOMMU / VFIO?): use --no-pci for vdevs";
    case ENOEXEC:
      return "a PMD plugin failed to load: check the -d paths and that the dpdk package "
             "ships the driver";
    case EINVAL:
      return "invalid EAL arguments";
    case EALREADY:
      return "EAL is already initialised in this process (it can start only once)";
    default:
      return "see the EAL log lines above";
  }
}

}  // namespace

EalStart start_eal(std::span<const std::string> args, const std::string& program) {
  // EAL keeps state from a first attempt even when it fails (a core list once parsed is
  // refused the second time), so there is exactly one attempt per process.
  static bool attempted = false;
  if (attempted) {
    return {argument_storage().empty()
                ? "EAL failed to start earlier in this process and cannot be retried"
                : "EAL is already initialised in this process (it can start only once)"};
  }
  attempted = true;
  auto& storage = argument_storage();
  storage.reserve(args.size() + 1);
  storage.push_back(program);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(storage.size() + 1);
  for (auto& arg : storage)
    argv.push_back(arg.data());
  argv.push_back(nullptr);

  const int argc = static_cast<int>(storage.size());
  const int consumed = rte_eal_init(argc, argv.data());
  if (consumed < 0) {
    const int error = rte_errno;
    storage.clear();
    return {"rte_eal_init(" + joined(args) + ") failed: " + rte_strerror(error) + " - " +
            hint_for(error)};
  }
  // EAL stops at the first argument that is not an option of its own (or after "--"); we
  // pass nothing else, so anything left is a typo that would otherwise be ignored.
  if (consumed + 1 < argc) {
    // getopt permutes argv (not the strings), so the leftovers are read through it.
    std::vector<std::string> rest(argv.begin() + consumed + 1, argv.begin() + argc);
    rte_eal_cleanup();
    storage.clear();
    return {"unrecognised EAL arguments: " + joined(rest) +
            " (EAL options start with '-'; check [dataplane] eal)"};
  }
  return {};
}

void stop_eal() {
  if (argument_storage().empty()) return;
  rte_eal_cleanup();
}

}  // namespace sipline::dataplane::dpdk
