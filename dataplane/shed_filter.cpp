#include "dataplane/shed_filter.hpp"

#include <linux/filter.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

namespace sipline::dataplane {
namespace {

// A UDP socket's filter sees the datagram from its UDP header on (the IP header is already
// pulled): the payload starts at offset 8. Words are read big-endian.
constexpr std::uint32_t kPayload = 8;
constexpr std::uint32_t kInvi = 0x494E5649;  // "INVI"
constexpr std::uint32_t kTe = 0x5445;        // "TE"
constexpr std::uint32_t kRegi = 0x52454749;  // "REGI"
constexpr std::uint32_t kSter = 0x53544552;  // "STER"
constexpr std::uint32_t kSpace = 0x20;
constexpr std::uint32_t kWholeDatagram = 0x40000;  // "keep this many octets": all of it

sock_filter statement(std::uint16_t code, std::uint32_t k) {
  return sock_filter{code, 0, 0, k};
}
sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t if_true, std::uint8_t if_false) {
  return sock_filter{code, if_true, if_false, k};
}

// Instruction indexes the jumps aim at; a jump's offset counts from the next instruction.
constexpr std::size_t kRegister = 8, kRandom = 15, kDrop = 18, kPass = 19, kLength = 20;
constexpr std::uint8_t to(std::size_t target, std::size_t from) {
  return static_cast<std::uint8_t>(target - (from + 1));
}

std::array<sock_filter, kLength> program(std::uint32_t drop_percent) {
  return {{
      // 0: a datagram too short for "INVITE " passes (reading past its end would drop it)
      statement(BPF_LD | BPF_W | BPF_LEN, 0),
      jump(BPF_JMP | BPF_JGE | BPF_K, kPayload + 7, 0, to(kPass, 1)),
      // 2: "INVITE "
      statement(BPF_LD | BPF_W | BPF_ABS, kPayload),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kInvi, 0, to(kRegister, 3)),
      statement(BPF_LD | BPF_H | BPF_ABS, kPayload + 4),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kTe, 0, to(kPass, 5)),
      statement(BPF_LD | BPF_B | BPF_ABS, kPayload + 6),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kSpace, to(kRandom, 7), to(kPass, 7)),
      // 8: "REGISTER " (A still holds the first word)
      jump(BPF_JMP | BPF_JEQ | BPF_K, kRegi, 0, to(kPass, 8)),
      statement(BPF_LD | BPF_W | BPF_LEN, 0),
      jump(BPF_JMP | BPF_JGE | BPF_K, kPayload + 9, 0, to(kPass, 10)),
      statement(BPF_LD | BPF_W | BPF_ABS, kPayload + 4),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kSter, 0, to(kPass, 12)),
      statement(BPF_LD | BPF_B | BPF_ABS, kPayload + 8),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kSpace, 0, to(kPass, 14)),
      // 15: drop drop_percent% of them: random % 100 below drop_percent
      statement(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)),
      statement(BPF_ALU | BPF_MOD | BPF_K, 100),
      jump(BPF_JMP | BPF_JGE | BPF_K, drop_percent, to(kPass, 17), 0),
      // 18: drop, 19: pass
      statement(BPF_RET | BPF_K, 0),
      statement(BPF_RET | BPF_K, kWholeDatagram),
  }};
}
static_assert(kDrop == kRandom + 3 && kPass == kDrop + 1 && kLength == kPass + 1);

}  // namespace

bool attach_shed_filter(int fd, std::uint32_t drop_percent) {
  std::array<sock_filter, kLength> code = program(drop_percent > 100 ? 100 : drop_percent);
  const sock_fprog filter{static_cast<unsigned short>(code.size()), code.data()};
  return ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &filter, sizeof filter) == 0;
}

bool detach_shed_filter(int fd) {
  const int unused = 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) == 0) return true;
  return errno == ENOENT;  // there was none
}

}  // namespace sipline::dataplane
