#include "dataplane/shed_filter.hpp"

#include <linux/filter.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "sip/service_urn.hpp"

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

// Instruction indexes the jumps of the fixed head aim at; a jump's offset counts from the next
// instruction.
constexpr std::size_t kRegister = 8, kPassHead = 15, kToRandom = 16, kExempt = 17;
constexpr std::uint8_t to(std::size_t target, std::size_t from) {
  return static_cast<std::uint8_t>(target - (from + 1));
}

// The head: which datagrams are new INVITEs (on to the exemptions at kExempt) or REGISTERs
// (on to the random drop), and a pass for everything else.
std::vector<sock_filter> head() {
  return {
      // 0: a datagram too short for "INVITE " passes (reading past its end would drop it)
      statement(BPF_LD | BPF_W | BPF_LEN, 0),
      jump(BPF_JMP | BPF_JGE | BPF_K, kPayload + 7, 0, to(kPassHead, 1)),
      // 2: "INVITE "
      statement(BPF_LD | BPF_W | BPF_ABS, kPayload),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kInvi, 0, to(kRegister, 3)),
      statement(BPF_LD | BPF_H | BPF_ABS, kPayload + 4),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kTe, 0, to(kPassHead, 5)),
      statement(BPF_LD | BPF_B | BPF_ABS, kPayload + 6),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kSpace, to(kExempt, 7), to(kPassHead, 7)),
      // 8: "REGISTER " (A still holds the first word)
      jump(BPF_JMP | BPF_JEQ | BPF_K, kRegi, 0, to(kPassHead, 8)),
      statement(BPF_LD | BPF_W | BPF_LEN, 0),
      jump(BPF_JMP | BPF_JGE | BPF_K, kPayload + 9, 0, to(kPassHead, 10)),
      statement(BPF_LD | BPF_W | BPF_ABS, kPayload + 4),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kSter, 0, to(kPassHead, 12)),
      statement(BPF_LD | BPF_B | BPF_ABS, kPayload + 8),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kSpace, to(kToRandom, 14), to(kPassHead, 14)),
      // 15: pass; 16: on to the random drop, past the exemptions (a 32-bit jump)
      statement(BPF_RET | BPF_K, kWholeDatagram),
      statement(BPF_JMP | BPF_JA, 0),  // its offset is set once the exemptions are written
  };
}

// One exemption: the INVITE's Request-URI starts with `start` (after "INVITE "). Its length
// is checked first; every mismatch goes on to the next exemption, a match passes.
void append_exemption(std::vector<sock_filter>& code, std::string_view start) {
  const std::uint32_t offset = kPayload + 7;
  std::vector<std::size_t> mismatches;  // the jumps to the next exemption (at most 20 away)
  code.push_back(statement(BPF_LD | BPF_W | BPF_LEN, 0));
  mismatches.push_back(code.size());
  code.push_back(
      jump(BPF_JMP | BPF_JGE | BPF_K, offset + static_cast<std::uint32_t>(start.size()), 0, 0));
  for (std::size_t at = 0; at < start.size();) {
    const std::size_t width = start.size() - at >= 4 ? 4 : start.size() - at >= 2 ? 2 : 1;
    std::uint32_t expected = 0;
    for (std::size_t i = 0; i < width; ++i)
      expected = expected << 8 | static_cast<unsigned char>(start[at + i]);
    const std::uint16_t size = width == 4 ? BPF_W : width == 2 ? BPF_H : BPF_B;
    code.push_back(statement(BPF_LD | size | BPF_ABS, offset + static_cast<std::uint32_t>(at)));
    mismatches.push_back(code.size());
    code.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, expected, 0, 0));
    at += width;
  }
  code.push_back(statement(BPF_RET | BPF_K, kWholeDatagram));  // an emergency call: passes
  const std::size_t next = code.size();
  for (std::size_t jump_at : mismatches)
    code[jump_at].jf = to(next, jump_at);
}

// The random drop: drop_percent% of what reaches it, the rest passes.
void append_random_drop(std::vector<sock_filter>& code, std::uint32_t drop_percent) {
  code.push_back(
      statement(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)));
  code.push_back(statement(BPF_ALU | BPF_MOD | BPF_K, 100));
  code.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, drop_percent, 1, 0));
  code.push_back(statement(BPF_RET | BPF_K, 0));
  code.push_back(statement(BPF_RET | BPF_K, kWholeDatagram));
}

std::vector<sock_filter> program(std::uint32_t drop_percent,
                                 std::span<const std::string> exempt_numbers) {
  std::vector<sock_filter> code = head();
  // A new INVITE to an emergency number (sip:N@..., sip:N;params@..., tel:N, tel:N;params)
  // is never shed here (RFC 7339 §5.10.1).
  for (const std::string& number : exempt_numbers) {
    for (std::string_view scheme : {"sip:", "tel:"}) {
      for (char after : scheme == "sip:" ? std::string_view("@;") : std::string_view(" ;")) {
        append_exemption(code, std::string(scheme) + number + after);
      }
    }
  }
  // And one placed by service (urn:service:sos, its sub-services), as senders write it.
  if (!exempt_numbers.empty()) append_exemption(code, sip::kEmergencyServiceUrn);
  code[kToRandom].k = static_cast<std::uint32_t>(code.size() - (kToRandom + 1));
  append_random_drop(code, drop_percent);
  return code;
}

}  // namespace

bool attach_shed_filter(int fd, std::uint32_t drop_percent,
                        std::span<const std::string> exempt_numbers) {
  std::vector<sock_filter> code = program(drop_percent > 100 ? 100 : drop_percent, exempt_numbers);
  const sock_fprog filter{static_cast<unsigned short>(code.size()), code.data()};
  return ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &filter, sizeof filter) == 0;
}

bool detach_shed_filter(int fd) {
  const int unused = 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) == 0) return true;
  return errno == ENOENT;  // there was none
}

}  // namespace sipline::dataplane
