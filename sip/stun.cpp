#include "sip/stun.hpp"

#include <algorithm>

namespace sipline::sip {
namespace {

// RFC 5389 §18.1-§18.2: message types and attributes.
constexpr std::uint16_t kBindingRequest = 0x0001;
// §6: the class bits C1 C0 of a message type; 01 is an indication.
constexpr std::uint16_t kClassMask = 0x0110;
constexpr std::uint16_t kIndicationClass = 0x0010;
constexpr std::uint16_t kBindingSuccess = 0x0101;
constexpr std::uint16_t kBindingError = 0x0111;
constexpr std::uint16_t kErrorCode = 0x0009;
constexpr std::uint16_t kUnknownAttributes = 0x000A;
constexpr std::uint16_t kXorMappedAddress = 0x0020;
constexpr std::uint16_t kFingerprint = 0x8028;
// §15.5: FINGERPRINT is the CRC-32 of the message before it, XOR this ("STUN").
constexpr std::uint32_t kFingerprintXor = 0x5354554E;
// An attribute of a type below this must be understood by its receiver (§15).
constexpr std::uint16_t kFirstOptionalAttribute = 0x8000;
constexpr std::size_t kTransactionIdOffset = 8;
constexpr std::size_t kTransactionIdSize = 12;
constexpr std::string_view kUnknownAttributeReason = "Unknown Attribute";

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t value = i;
    for (int bit = 0; bit < 8; ++bit)
      value = (value & 1) != 0 ? 0xEDB88320u ^ (value >> 1) : value >> 1;
    table[i] = value;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

std::uint16_t read16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[at]) << 8 |
                                    static_cast<unsigned char>(bytes[at + 1]));
}

std::uint32_t read32(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint32_t>(read16(bytes, at)) << 16 | read16(bytes, at + 2);
}

std::size_t padded(std::size_t length) {
  return (length + 3) & ~std::size_t{3};
}

// What a request's attributes say about the answer it gets (§7.3).
struct RequestAttributes {
  bool well_formed = true;  // they fill the message exactly; FINGERPRINT last and right
  bool fingerprint = false;
  std::array<std::uint16_t, kStunMaxUnknownAttributes> unknown{};
  std::size_t unknown_count = 0;
};

RequestAttributes scan_attributes(std::string_view message) {
  RequestAttributes found;
  std::size_t at = kStunHeaderSize;
  while (at < message.size()) {
    if (message.size() - at < 4) return RequestAttributes{false};
    const std::uint16_t type = read16(message, at);
    const std::uint16_t length = read16(message, at + 2);
    if (message.size() - at - 4 < padded(length)) return RequestAttributes{false};
    if (type == kFingerprint) {
      // §15.5: the last attribute, over everything before it (header length included).
      const bool last = length == 4 && at + 8 == message.size();
      if (!last || (crc32(message.substr(0, at)) ^ kFingerprintXor) != read32(message, at + 4)) {
        return RequestAttributes{false};
      }
      found.fingerprint = true;
    } else if (type < kFirstOptionalAttribute && found.unknown_count < found.unknown.size()) {
      found.unknown[found.unknown_count++] = type;  // a Binding needs none of them
    }
    at += 4 + padded(length);
  }
  return found;
}

// Writes a STUN message into a fixed buffer; fails (ok() false) instead of overflowing.
class StunWriter {
 public:
  explicit StunWriter(std::span<char> out) : out_(out) {}

  void header(std::uint16_t type, std::string_view transaction_id) {
    put16(type);
    put16(0);  // the length, set by finish()
    put32(kStunMagicCookie);
    put_bytes(transaction_id);
  }
  void attribute(std::uint16_t type, std::uint16_t length) {
    put16(type);
    put16(length);
  }
  void put8(std::uint8_t value) {
    if (size_ >= out_.size()) {
      ok_ = false;
      return;
    }
    out_[size_++] = static_cast<char>(value);
  }
  void put16(std::uint16_t value) {
    put8(static_cast<std::uint8_t>(value >> 8));
    put8(static_cast<std::uint8_t>(value));
  }
  void put32(std::uint32_t value) {
    put16(static_cast<std::uint16_t>(value >> 16));
    put16(static_cast<std::uint16_t>(value));
  }
  void put_bytes(std::string_view bytes) {
    for (char byte : bytes)
      put8(static_cast<std::uint8_t>(byte));
  }
  void pad() {
    while (size_ % 4 != 0)
      put8(0);
  }
  // FINGERPRINT (§15.5) when `wanted`, then the header's length field.
  std::size_t finish(bool fingerprint) {
    if (fingerprint) {
      set_length(size_ + 8 - kStunHeaderSize);
      if (!ok_) return 0;
      const std::uint32_t crc = crc32({out_.data(), size_}) ^ kFingerprintXor;
      attribute(kFingerprint, 4);
      put32(crc);
    }
    set_length(size_ - kStunHeaderSize);
    return ok_ ? size_ : 0;
  }

 private:
  void set_length(std::size_t length) {
    if (!ok_ || out_.size() < kStunHeaderSize) return;
    out_[2] = static_cast<char>(length >> 8);
    out_[3] = static_cast<char>(length);
  }

  std::span<char> out_;
  std::size_t size_ = 0;
  bool ok_ = true;
};

// §15.2: the address and port XORed with the magic cookie (and, for IPv6, the transaction
// ID after it), so that NATs rewriting addresses they find in payloads leave it alone.
void put_xor_mapped_address(StunWriter& writer, const StunPeer& peer, std::string_view request) {
  const std::size_t address_size = peer.ipv6 ? 16 : 4;
  writer.attribute(kXorMappedAddress, static_cast<std::uint16_t>(4 + address_size));
  writer.put8(0);
  writer.put8(peer.ipv6 ? 0x02 : 0x01);
  writer.put16(static_cast<std::uint16_t>(peer.port ^ (kStunMagicCookie >> 16)));
  // The cookie and the transaction ID, as they stand in the request's header.
  const std::string_view mask = request.substr(4, 4 + kTransactionIdSize);
  for (std::size_t i = 0; i < address_size; ++i)
    writer.put8(static_cast<std::uint8_t>(peer.address[i] ^ static_cast<unsigned char>(mask[i])));
}

}  // namespace

std::uint32_t crc32(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (char byte : bytes)
    crc = kCrcTable[(crc ^ static_cast<unsigned char>(byte)) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

StunAnswer answer_stun(std::string_view request, const StunPeer& peer, std::span<char> out) {
  // §6: a length that counts the attributes after the header, in whole 32-bit words.
  if (!looks_like_stun(request) || read16(request, 2) != request.size() - kStunHeaderSize ||
      request.size() % 4 != 0) {
    return {};
  }
  const std::uint16_t type = read16(request, 0);
  const bool indication = (type & kClassMask) == kIndicationClass;
  if (!indication && type != kBindingRequest) return {};
  const RequestAttributes attributes = scan_attributes(request);
  if (!attributes.well_formed) return {};
  if (indication) return {StunReply::Indication, 0};
  const std::string_view transaction_id = request.substr(kTransactionIdOffset, kTransactionIdSize);
  StunWriter writer(out.first(std::min(out.size(), kStunMaxAnswerSize)));
  if (attributes.unknown_count == 0) {
    writer.header(kBindingSuccess, transaction_id);
    put_xor_mapped_address(writer, peer, request);
    const std::size_t size = writer.finish(attributes.fingerprint);
    return size == 0 ? StunAnswer{} : StunAnswer{StunReply::BindingSuccess, size};
  }
  writer.header(kBindingError, transaction_id);
  // §15.6: ERROR-CODE, class 4 number 20, and its reason phrase.
  writer.attribute(kErrorCode, static_cast<std::uint16_t>(4 + kUnknownAttributeReason.size()));
  writer.put16(0);
  writer.put8(4);
  writer.put8(20);
  writer.put_bytes(kUnknownAttributeReason);
  writer.pad();
  writer.attribute(kUnknownAttributes, static_cast<std::uint16_t>(2 * attributes.unknown_count));
  for (std::size_t i = 0; i < attributes.unknown_count; ++i)
    writer.put16(attributes.unknown[i]);
  writer.pad();
  const std::size_t size = writer.finish(attributes.fingerprint);
  return size == 0 ? StunAnswer{} : StunAnswer{StunReply::UnknownAttributes, size};
}

}  // namespace sipline::sip
