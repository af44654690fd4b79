// Prebuilt SIP messages for the load generator. Every message is written from pieces of text
// built once at start: a piece is copied with one memcpy, and its number fields (call
// sequence, CSeq) are fixed-width decimal slots patched in place after the copy, so no
// message is formatted field by field on the hot path. What varies in length from one call
// to the next (the remote tag and target of a dialog, a user name, header lines copied from
// a request) is inserted between pieces, again by memcpy.
//
// Identifiers: a generator thread has an "instance" string (8 hex digits of run id and 2 of
// thread index) so that Call-IDs, tags and branches are unique per run and thread, and the
// sequence number of a call or transaction is written as 12 decimal digits. The top Via
// branch of every request is
//   z9hG4bK sb <instance> <kind letter> <sequence>
// (RFC 3261 §8.1.1.7 magic cookie first), which is how responses find their transaction
// (RFC 3261 §17.1.3 matches responses by branch and CSeq method).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/message.hpp"

namespace sipline::sipblast {

// --- pieces --------------------------------------------------------------------------------

enum class NumberField : std::uint8_t { Sequence = 0, CSeq = 1 };
inline constexpr std::size_t kNumberFieldCount = 2;
using NumberValues = std::array<std::uint64_t, kNumberFieldCount>;

inline constexpr int kSequenceWidth = 12;
inline constexpr int kCSeqWidth = 10;
inline constexpr std::size_t kInstanceLength = 10;

// Writes `value` as exactly `width` decimal digits, zero-padded (only the lowest `width`
// digits when it has more).
void write_fixed_decimal(char* out, int width, std::uint64_t value);

// Reads exactly `text.size()` decimal digits; nullopt on any other character.
std::optional<std::uint64_t> read_fixed_decimal(std::string_view text);

// Text with fixed-width number slots in it.
class Piece {
 public:
  std::string_view text() const { return text_; }
  std::size_t size() const { return text_.size(); }
  // Copies the text to `out` (which holds at least size() octets) and fills the slots.
  void write(char* out, const NumberValues& values) const;

 private:
  friend class PieceBuilder;
  struct Slot {
    std::uint32_t offset;
    std::uint8_t width;
    NumberField field;
  };
  std::string text_;
  std::vector<Slot> slots_;
};

class PieceBuilder {
 public:
  PieceBuilder& text(std::string_view text);
  PieceBuilder& number(NumberField field, int width);
  PieceBuilder& append(const Piece& piece);  // its text and its slots
  Piece build() { return std::move(piece_); }

 private:
  Piece piece_;
};

// Appends pieces and raw views to a caller buffer; finish() is 0 when it did not fit.
class MessageWriter {
 public:
  explicit MessageWriter(std::span<char> out) : out_(out) {}
  MessageWriter& piece(const Piece& piece, const NumberValues& values);
  MessageWriter& raw(std::string_view text);
  std::size_t finish() const { return overflow_ ? 0 : size_; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

// --- client side (UAC, OPTIONS, REGISTER) ----------------------------------------------------

// Which transaction a branch belongs to.
enum class TxKind : char {
  Invite = 'i',
  Ack = 'a',
  Bye = 'b',
  Options = 'o',
  Register = 'r',      // first REGISTER, no credentials
  RegisterAuth = 's',  // REGISTER answering a challenge
};

struct BranchRef {
  TxKind kind;
  std::uint64_t sequence;
};

// The transaction named by a branch we wrote for `instance`; nullopt for anyone else's.
std::optional<BranchRef> decode_branch(std::string_view branch, std::string_view instance);

// "127.0.0.1" -> "127.0.0.1", "::1" -> "[::1]" (RFC 3261 §25.1 IPv6reference).
std::string sip_host(std::string_view address);

struct ClientIdentity {
  std::string instance;       // kInstanceLength characters
  std::string local_address;  // numeric, no brackets
  std::uint16_t local_port = 0;
  std::string from_user = "1001";
  std::string request_uri;      // "sip:1002@127.0.0.1:5060"
  std::string register_domain;  // "127.0.0.1" (REGISTER Request-URI sip:<domain>, AOR host)
  std::uint32_t register_expires = 3600;
  bool overload_control = false;  // RFC 7339 §5.1: ";oc;oc-algo=\"loss\"" in our Via
};

// The parts of a confirmed dialog that in-dialog requests need (RFC 3261 §12.2.1.1).
struct DialogView {
  std::string_view remote_target;  // Request-URI: the 2xx's Contact URI
  std::string_view route_lines;    // "Route: ...\r\n" from the reversed Record-Route, or ""
  std::string_view remote_tag;     // the To tag of the 2xx
};

struct RegisterView {
  std::string_view user;
  std::uint32_t cseq = 1;
  std::string_view authorization_line;  // "Authorization: Digest ...\r\n" or ""
};

// The requests a client sends, prebuilt for one local socket (its address and port appear
// in Via and Contact).
class ClientTemplates {
 public:
  explicit ClientTemplates(const ClientIdentity& identity);

  std::size_t invite(std::span<char> out, std::uint64_t sequence) const;
  // ACK for a 2xx: a new transaction (RFC 3261 §13.2.2.4) with its own branch.
  std::size_t ack_2xx(std::span<char> out, std::uint64_t sequence, const DialogView& dialog) const;
  // ACK for a non-2xx final response: part of the INVITE transaction, so the INVITE's branch
  // and Request-URI (RFC 3261 §17.1.1.3).
  std::size_t ack_failure(std::span<char> out, std::uint64_t sequence,
                          std::string_view remote_tag) const;
  std::size_t bye(std::span<char> out, std::uint64_t sequence, const DialogView& dialog) const;
  std::size_t options(std::span<char> out, std::uint64_t sequence) const;
  // REGISTER for `user`; kind Register or RegisterAuth decides the branch letter.
  std::size_t register_request(std::span<char> out, TxKind kind, std::uint64_t sequence,
                               const RegisterView& registration) const;

  const std::string& request_uri() const { return request_uri_; }
  const std::string& register_uri() const { return register_uri_; }
  std::size_t sdp_size() const { return sdp_size_; }

 private:
  struct InDialog {  // start line .. target | .. routes | .. To tag | .. end
    Piece before_target, before_routes, before_tag, after_tag;
  };
  InDialog in_dialog(std::string_view method, TxKind kind, int cseq) const;
  std::size_t write_in_dialog(const InDialog& pieces, std::span<char> out, std::uint64_t sequence,
                              const DialogView& dialog) const;

  ClientIdentity identity_;
  std::string request_uri_;
  std::string register_uri_;
  std::size_t sdp_size_ = 0;
  Piece invite_;
  InDialog ack_, bye_;
  Piece ack_failure_head_, ack_failure_tail_;
  Piece options_;
  // REGISTER: head | user | mid1 | user | mid2 | user | mid3 | user | before_auth | auth | end
  Piece register_head_, register_from_, register_to_, register_call_id_, register_contact_,
      register_end_;
};

// --- server side (UAS) -----------------------------------------------------------------------

enum class ResponseKind : std::uint8_t {
  Trying,        // 100 Trying
  Ringing,       // 180 Ringing, To tag, Contact
  OkSdp,         // 200 OK to INVITE: To tag, Contact, SDP answer
  Ok,            // 200 OK to anything else
  Unauthorized,  // 401 Unauthorized (the challenge lines come as `extra_lines`)
  Forbidden,     // 403 Forbidden
};

struct ServerIdentity {
  std::string contact_uri;  // "sip:1002@127.0.0.1:5070"
  std::string sdp_address;  // numeric, no brackets
};

// Answers requests by copying Via, Record-Route, From, To, Call-ID and CSeq from the request
// (RFC 3261 §8.2.6.2, §12.1.1) around prebuilt pieces. The To tag it adds is derived from
// the Call-ID, so a retransmitted INVITE gets the same tag without any per-call state.
class UasResponder {
 public:
  explicit UasResponder(const ServerIdentity& identity);
  // `extra_lines` (complete header lines) go in before Content-Length.
  std::size_t write(std::span<char> out, const sip::Message& request, ResponseKind kind,
                    std::string_view extra_lines = {}) const;

 private:
  std::string contact_line_;
  std::string sdp_;
  std::string sdp_tail_;  // Content-Type .. end of the SDP
};

// The To tag the UAS gives a dialog: 16 hex digits of the Call-ID's hash.
std::array<char, 16> uas_tag(std::string_view call_id);

}  // namespace sipline::sipblast
