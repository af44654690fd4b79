#include "bench/sipblast/templates.hpp"

#include <cstring>

#include "sip/call_id_scan.hpp"
#include "sip/hex.hpp"

namespace sipline::sipblast {

namespace {

// RFC 7339 §5.1: a client that supports overload control says so in its Via ("loss" is the
// algorithm it implements).
constexpr const char* kOcOffer = ";oc;oc-algo=\"loss\"";

constexpr std::string_view kBranchPrefix = "z9hG4bKsb";
constexpr std::size_t kBranchLength = kBranchPrefix.size() + kInstanceLength + 1 + kSequenceWidth;

bool is_ipv6(std::string_view address) {
  return address.find(':') != std::string_view::npos;
}

std::string sdp_connection(std::string_view address) {
  return std::string(is_ipv6(address) ? "IN IP6 " : "IN IP4 ") + std::string(address);
}

// The media description both sides use: G.711 and RFC 4733 events, as a desk phone offers.
std::string sdp_media(std::uint16_t port) {
  return "t=0 0\r\n"
         "m=audio " +
         std::to_string(port) +
         " RTP/AVP 0 8 101\r\n"
         "a=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\n"
         "a=fmtp:101 0-16\r\n"
         "a=ptime:20\r\n"
         "a=sendrecv\r\n";
}

// "z9hG4bKsb<instance><kind>" followed by the sequence slot.
void add_branch(PieceBuilder& builder, std::string_view instance, TxKind kind) {
  const char letter = static_cast<char>(kind);
  builder.text(kBranchPrefix).text(instance).text(std::string_view(&letter, 1));
  builder.number(NumberField::Sequence, kSequenceWidth);
}

}  // namespace

// --- pieces --------------------------------------------------------------------------------

void write_fixed_decimal(char* out, int width, std::uint64_t value) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

std::optional<std::uint64_t> read_fixed_decimal(std::string_view text) {
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

void Piece::write(char* out, const NumberValues& values) const {
  std::memcpy(out, text_.data(), text_.size());
  for (const Slot& slot : slots_) {
    write_fixed_decimal(out + slot.offset, slot.width,
                        values[static_cast<std::size_t>(slot.field)]);
  }
}

PieceBuilder& PieceBuilder::text(std::string_view text) {
  piece_.text_.append(text);
  return *this;
}

PieceBuilder& PieceBuilder::append(const Piece& piece) {
  const auto base = static_cast<std::uint32_t>(piece_.text_.size());
  piece_.text_.append(piece.text_);
  for (Piece::Slot slot : piece.slots_) {
    slot.offset += base;
    piece_.slots_.push_back(slot);
  }
  return *this;
}

PieceBuilder& PieceBuilder::number(NumberField field, int width) {
  piece_.slots_.push_back(
      {static_cast<std::uint32_t>(piece_.text_.size()), static_cast<std::uint8_t>(width), field});
  piece_.text_.append(static_cast<std::size_t>(width), '0');
  return *this;
}

MessageWriter& MessageWriter::piece(const Piece& piece, const NumberValues& values) {
  if (overflow_ || out_.size() - size_ < piece.size()) {
    overflow_ = true;
    return *this;
  }
  piece.write(out_.data() + size_, values);
  size_ += piece.size();
  return *this;
}

MessageWriter& MessageWriter::raw(std::string_view text) {
  if (text.empty()) return *this;  // an empty view may have no storage: no memcpy from null
  if (overflow_ || out_.size() - size_ < text.size()) {
    overflow_ = true;
    return *this;
  }
  std::memcpy(out_.data() + size_, text.data(), text.size());
  size_ += text.size();
  return *this;
}

// --- identifiers -----------------------------------------------------------------------------

std::optional<BranchRef> decode_branch(std::string_view branch, std::string_view instance) {
  if (branch.size() != kBranchLength || !branch.starts_with(kBranchPrefix)) return std::nullopt;
  if (branch.substr(kBranchPrefix.size(), kInstanceLength) != instance) return std::nullopt;
  const char kind = branch[kBranchPrefix.size() + kInstanceLength];
  switch (kind) {
    case 'i':
    case 'a':
    case 'b':
    case 'o':
    case 'r':
    case 's':
      break;
    default:
      return std::nullopt;
  }
  const auto sequence = read_fixed_decimal(branch.substr(kBranchLength - kSequenceWidth));
  if (!sequence) return std::nullopt;
  return BranchRef{static_cast<TxKind>(kind), *sequence};
}

std::string sip_host(std::string_view address) {
  std::string host(address);
  if (is_ipv6(address)) {
    host.insert(host.begin(), '[');
    host.push_back(']');
  }
  return host;
}

// --- client ----------------------------------------------------------------------------------

ClientTemplates::ClientTemplates(const ClientIdentity& identity)
    : identity_(identity),
      request_uri_(identity.request_uri),
      register_uri_("sip:" + identity.register_domain) {
  const std::string host = sip_host(identity.local_address);
  const std::string sent_by = host + ":" + std::to_string(identity.local_port);
  const std::string& instance = identity.instance;
  const std::string contact = "Contact: <sip:" + identity.from_user + "@" + sent_by + ">\r\n";
  const std::string from_uri = "<sip:" + identity.from_user + "@" + host + ">";
  const std::string to_line = "To: <" + request_uri_ + ">";

  // Call-ID "sb<instance>-<sequence>@<host>" and From tag "sb<instance><sequence>": unique per
  // run, thread and call.
  auto add_via = [&](PieceBuilder& builder, TxKind kind) {
    builder.text("Via: SIP/2.0/UDP " + sent_by + ";branch=");
    add_branch(builder, instance, kind);
    builder.text(std::string(";rport") + (identity.overload_control ? kOcOffer : "") +
                 "\r\nMax-Forwards: 70\r\n");
  };
  auto add_from = [&](PieceBuilder& builder) {
    builder.text("From: \"sipblast\" " + from_uri + ";tag=sb" + instance);
    builder.number(NumberField::Sequence, kSequenceWidth).text("\r\n");
  };
  auto add_call_id = [&](PieceBuilder& builder) {
    builder.text("Call-ID: sb" + instance + "-");
    builder.number(NumberField::Sequence, kSequenceWidth).text("@" + host + "\r\n");
  };

  // INVITE with an SDP offer (RFC 3264); the o= session id is the call's sequence.
  {
    PieceBuilder sdp;
    sdp.text("v=0\r\no=sipblast ").number(NumberField::Sequence, kSequenceWidth);
    sdp.text(" 1 " + sdp_connection(identity.local_address) + "\r\ns=sipblast\r\nc=" +
             sdp_connection(identity.local_address) + "\r\n" + sdp_media(40000));
    const Piece sdp_piece = sdp.build();
    sdp_size_ = sdp_piece.size();

    PieceBuilder invite;
    invite.text("INVITE " + request_uri_ + " SIP/2.0\r\n");
    add_via(invite, TxKind::Invite);
    add_from(invite);
    invite.text(to_line + "\r\n");
    add_call_id(invite);
    invite.text("CSeq: 1 INVITE\r\n" + contact +
                "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
                "User-Agent: sipblast\r\n"
                "Content-Type: application/sdp\r\n"
                "Content-Length: " +
                std::to_string(sdp_size_) + "\r\n\r\n");
    invite.append(sdp_piece);
    invite_ = invite.build();
  }

  ack_ = in_dialog("ACK", TxKind::Ack, 1);
  bye_ = in_dialog("BYE", TxKind::Bye, 2);

  {
    PieceBuilder head;
    head.text("ACK " + request_uri_ + " SIP/2.0\r\n");
    add_via(head, TxKind::Invite);
    add_from(head);
    head.text(to_line);
    ack_failure_head_ = head.build();
    PieceBuilder tail;
    tail.text("\r\n");
    add_call_id(tail);
    tail.text("CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
    ack_failure_tail_ = tail.build();
  }

  {
    PieceBuilder options;
    options.text("OPTIONS " + request_uri_ + " SIP/2.0\r\n");
    add_via(options, TxKind::Options);
    add_from(options);
    options.text(to_line + "\r\n");
    add_call_id(options);
    options.text("CSeq: 1 OPTIONS\r\n" + contact +
                 "Accept: application/sdp\r\n"
                 "User-Agent: sipblast\r\n"
                 "Content-Length: 0\r\n\r\n");
    options_ = options.build();
  }

  // REGISTER (RFC 3261 §10.2): one Call-ID per user for the whole run, CSeq increasing.
  // The branch letter (Register / RegisterAuth) is written per message over the 'r' here.
  {
    PieceBuilder head;
    head.text("REGISTER " + register_uri_ + " SIP/2.0\r\n");
    add_via(head, TxKind::Register);
    head.text("From: <sip:");
    register_head_ = head.build();
    PieceBuilder from;
    from.text("@" + identity.register_domain + ">;tag=sb" + instance);
    from.number(NumberField::Sequence, kSequenceWidth).text("\r\nTo: <sip:");
    register_from_ = from.build();
    register_to_ =
        PieceBuilder().text("@" + identity.register_domain + ">\r\nCall-ID: sbreg-").build();
    PieceBuilder call_id;
    call_id.text("-" + instance + "@" + host + "\r\nCSeq: ");
    call_id.number(NumberField::CSeq, kCSeqWidth).text(" REGISTER\r\nContact: <sip:");
    register_call_id_ = call_id.build();
    register_contact_ =
        PieceBuilder()
            .text("@" + sent_by + ">\r\nExpires: " + std::to_string(identity.register_expires) +
                  "\r\nUser-Agent: sipblast\r\n")
            .build();
    register_end_ = PieceBuilder().text("Content-Length: 0\r\n\r\n").build();
  }
}

ClientTemplates::InDialog ClientTemplates::in_dialog(std::string_view method, TxKind kind,
                                                     int cseq) const {
  const std::string host = sip_host(identity_.local_address);
  const std::string sent_by = host + ":" + std::to_string(identity_.local_port);
  const std::string& instance = identity_.instance;
  InDialog pieces;
  pieces.before_target = PieceBuilder().text(std::string(method) + " ").build();
  PieceBuilder via;
  via.text(" SIP/2.0\r\nVia: SIP/2.0/UDP " + sent_by + ";branch=");
  add_branch(via, instance, kind);
  via.text(std::string(";rport") + (identity_.overload_control ? kOcOffer : "") + "\r\n");
  pieces.before_routes = via.build();
  PieceBuilder from;
  from.text("Max-Forwards: 70\r\nFrom: \"sipblast\" <sip:" + identity_.from_user + "@" + host +
            ">;tag=sb" + instance);
  from.number(NumberField::Sequence, kSequenceWidth);
  from.text("\r\nTo: <" + request_uri_ + ">;tag=");
  pieces.before_tag = from.build();
  PieceBuilder tail;
  tail.text("\r\nCall-ID: sb" + instance + "-");
  tail.number(NumberField::Sequence, kSequenceWidth);
  tail.text("@" + host + "\r\nCSeq: " + std::to_string(cseq) + " " + std::string(method) + "\r\n");
  if (kind == TxKind::Bye) tail.text("User-Agent: sipblast\r\n");
  tail.text("Content-Length: 0\r\n\r\n");
  pieces.after_tag = tail.build();
  return pieces;
}

std::size_t ClientTemplates::write_in_dialog(const InDialog& pieces, std::span<char> out,
                                             std::uint64_t sequence,
                                             const DialogView& dialog) const {
  const NumberValues values{sequence, 0};
  return MessageWriter(out)
      .piece(pieces.before_target, values)
      .raw(dialog.remote_target)
      .piece(pieces.before_routes, values)
      .raw(dialog.route_lines)
      .piece(pieces.before_tag, values)
      .raw(dialog.remote_tag)
      .piece(pieces.after_tag, values)
      .finish();
}

std::size_t ClientTemplates::invite(std::span<char> out, std::uint64_t sequence) const {
  return MessageWriter(out).piece(invite_, {sequence, 0}).finish();
}

std::size_t ClientTemplates::ack_2xx(std::span<char> out, std::uint64_t sequence,
                                     const DialogView& dialog) const {
  return write_in_dialog(ack_, out, sequence, dialog);
}

std::size_t ClientTemplates::bye(std::span<char> out, std::uint64_t sequence,
                                 const DialogView& dialog) const {
  return write_in_dialog(bye_, out, sequence, dialog);
}

std::size_t ClientTemplates::ack_failure(std::span<char> out, std::uint64_t sequence,
                                         std::string_view remote_tag) const {
  const NumberValues values{sequence, 0};
  MessageWriter writer(out);
  writer.piece(ack_failure_head_, values);
  if (!remote_tag.empty()) writer.raw(";tag=").raw(remote_tag);
  return writer.piece(ack_failure_tail_, values).finish();
}

std::size_t ClientTemplates::options(std::span<char> out, std::uint64_t sequence) const {
  return MessageWriter(out).piece(options_, {sequence, 0}).finish();
}

std::size_t ClientTemplates::register_request(std::span<char> out, TxKind kind,
                                              std::uint64_t sequence,
                                              const RegisterView& registration) const {
  const NumberValues values{sequence, registration.cseq};
  const std::size_t size = MessageWriter(out)
                               .piece(register_head_, values)
                               .raw(registration.user)
                               .piece(register_from_, values)
                               .raw(registration.user)
                               .piece(register_to_, values)
                               .raw(registration.user)
                               .piece(register_call_id_, values)
                               .raw(registration.user)
                               .piece(register_contact_, values)
                               .raw(registration.authorization_line)
                               .piece(register_end_, values)
                               .finish();
  if (size == 0) return 0;
  // The branch letter sits right before the sequence slot in the head piece.
  const std::size_t letter =
      register_head_.text().find(kBranchPrefix) + kBranchPrefix.size() + kInstanceLength;
  out[letter] = static_cast<char>(kind);
  return size;
}

// --- server ----------------------------------------------------------------------------------

std::array<char, 16> uas_tag(std::string_view call_id) {
  return sip::hex64(sip::call_id_hash(call_id)).digits;
}

UasResponder::UasResponder(const ServerIdentity& identity)
    : contact_line_("Contact: <" + identity.contact_uri + ">\r\n") {
  sdp_ = "v=0\r\no=sipblast-uas 1 1 " + sdp_connection(identity.sdp_address) +
         "\r\ns=sipblast\r\nc=" + sdp_connection(identity.sdp_address) + "\r\n" + sdp_media(41000);
  sdp_tail_ = "Content-Type: application/sdp\r\nServer: sipblast\r\nContent-Length: " +
              std::to_string(sdp_.size()) + "\r\n\r\n" + sdp_;
}

namespace {

// Every header line with this id, in order, as written (RFC 3261 §8.2.6.2: Via in order).
void copy_lines(MessageWriter& writer, const sip::Message& request, sip::HeaderId id) {
  for (const sip::HeaderField* field = request.find(id); field != nullptr;
       field = request.next(*field)) {
    writer.raw(field->raw);
  }
}

// The header line without its final CRLF (the caller appends a tag and the CRLF).
std::string_view without_crlf(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.remove_suffix(1);
  return line;
}

}  // namespace

std::size_t UasResponder::write(std::span<char> out, const sip::Message& request, ResponseKind kind,
                                std::string_view extra_lines) const {
  const sip::HeaderField* from = request.find(sip::HeaderId::From);
  const sip::HeaderField* to = request.find(sip::HeaderId::To);
  const sip::HeaderField* call_id = request.find(sip::HeaderId::CallId);
  const sip::HeaderField* cseq = request.find(sip::HeaderId::CSeq);
  if (from == nullptr || to == nullptr || call_id == nullptr || cseq == nullptr) return 0;

  MessageWriter writer(out);
  switch (kind) {
    case ResponseKind::Trying:
      writer.raw("SIP/2.0 100 Trying\r\n");
      break;
    case ResponseKind::Ringing:
      writer.raw("SIP/2.0 180 Ringing\r\n");
      break;
    case ResponseKind::OkSdp:
    case ResponseKind::Ok:
      writer.raw("SIP/2.0 200 OK\r\n");
      break;
    case ResponseKind::Unauthorized:
      writer.raw("SIP/2.0 401 Unauthorized\r\n");
      break;
    case ResponseKind::Forbidden:
      writer.raw("SIP/2.0 403 Forbidden\r\n");
      break;
  }
  copy_lines(writer, request, sip::HeaderId::Via);
  const bool dialog_forming = kind == ResponseKind::Ringing || kind == ResponseKind::OkSdp;
  // RFC 3261 §12.1.1: a UAS copies Record-Route into responses that establish a dialog.
  if (dialog_forming) copy_lines(writer, request, sip::HeaderId::RecordRoute);
  writer.raw(from->raw);
  // RFC 3261 §8.2.6.2: a tag on every response but 100 when the request had none.
  if (kind != ResponseKind::Trying && !request.to.has_tag) {
    const std::array<char, 16> tag = uas_tag(request.call_id);
    writer.raw(without_crlf(to->raw)).raw(";tag=").raw({tag.data(), tag.size()}).raw("\r\n");
  } else {
    writer.raw(to->raw);
  }
  writer.raw(call_id->raw).raw(cseq->raw);
  switch (kind) {
    case ResponseKind::Trying:
      writer.raw("Content-Length: 0\r\n\r\n");
      break;
    case ResponseKind::Ringing:
      writer.raw(contact_line_).raw("Content-Length: 0\r\n\r\n");
      break;
    case ResponseKind::OkSdp:
      writer.raw(contact_line_).raw(sdp_tail_);
      break;
    case ResponseKind::Ok:
      // A registrar echoes the bindings (RFC 3261 §10.3 step 8); we echo what was asked.
      if (request.method == sip::Method::Register) {
        copy_lines(writer, request, sip::HeaderId::Contact);
      }
      writer.raw("Server: sipblast\r\nContent-Length: 0\r\n\r\n");
      break;
    case ResponseKind::Unauthorized:
    case ResponseKind::Forbidden:
      writer.raw(extra_lines).raw("Server: sipblast\r\nContent-Length: 0\r\n\r\n");
      break;
  }
  return writer.finish();
}

}  // namespace sipline::sipblast
