// Why a message, header value or URI was refused. One enum for every parser of sip/, so a
// caller can log the reason and answer 400 with it in the reason phrase (RFC 3261 §21.4.1).
#pragma once

#include <cstdint>
#include <string_view>

namespace sipline::sip {

enum class ParseError : std::uint8_t {
  None = 0,
  // message framing
  Empty,
  MessageTooLarge,
  NoHeaderEnd,
  BadStartLine,
  BadMethod,
  BadRequestUri,
  RequestUriHasHeaders,
  BadVersion,
  UnsupportedVersion,
  BadStatusCode,
  BadReasonPhrase,
  HeaderWithoutColon,
  BadHeaderName,
  TooManyHeaders,
  TooManyVias,
  TooManyParams,
  EmptyListElement,
  // required / single-valued headers
  MissingVia,
  MissingFrom,
  MissingTo,
  MissingCallId,
  MissingCSeq,
  DuplicateHeader,
  // header values
  BadVia,
  BadFrom,
  BadTo,
  BadNameAddr,
  UnterminatedQuote,
  BadCallId,
  BadCSeq,
  CSeqMethodMismatch,
  BadMaxForwards,
  BadContentLength,
  ConflictingContentLength,
  BodyTruncated,
  BadExpires,
  BadContact,
  BadParam,
  BadToken,
  BadAuthorization,
  // URI
  BadUri,
  BadScheme,
  BadHost,
  BadPort,
  BadEscape,
};

// A short human-readable reason, usable verbatim in a 400 reason phrase and in logs.
std::string_view describe(ParseError error);

// A value parsed from text, or the reason it could not be. Parsers return this instead of
// taking output parameters; the value is meaningful only when ok().
template <class T>
struct Parsed {
  T value{};
  ParseError error = ParseError::None;

  constexpr bool ok() const { return error == ParseError::None; }
};

template <class T>
constexpr Parsed<T> fail(ParseError error) {
  return Parsed<T>{T{}, error};
}

}  // namespace sipline::sip
