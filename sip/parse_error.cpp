#include "sip/parse_error.hpp"

namespace sipline::sip {

std::string_view describe(ParseError error) {
  switch (error) {
    case ParseError::None:
      return "OK";
    case ParseError::Empty:
      return "Empty Message";
    case ParseError::MessageTooLarge:
      return "Message Too Large";
    case ParseError::NoHeaderEnd:
      return "Header Section Not Terminated";
    case ParseError::BadStartLine:
      return "Malformed Start Line";
    case ParseError::BadMethod:
      return "Malformed Method";
    case ParseError::BadRequestUri:
      return "Malformed Request-URI";
    case ParseError::RequestUriHasHeaders:
      return "Headers Not Allowed In Request-URI";
    case ParseError::BadVersion:
      return "Malformed SIP Version";
    case ParseError::UnsupportedVersion:
      return "Version Not Supported";
    case ParseError::BadStatusCode:
      return "Malformed Status Code";
    case ParseError::BadReasonPhrase:
      return "Malformed Reason Phrase";
    case ParseError::HeaderWithoutColon:
      return "Header Line Without Colon";
    case ParseError::BadHeaderName:
      return "Malformed Header Name";
    case ParseError::TooManyHeaders:
      return "Too Many Header Lines";
    case ParseError::TooManyVias:
      return "Too Many Via Entries";
    case ParseError::TooManyParams:
      return "Too Many Parameters";
    case ParseError::EmptyListElement:
      return "Empty List Element";
    case ParseError::MissingVia:
      return "Missing Via";
    case ParseError::MissingFrom:
      return "Missing From";
    case ParseError::MissingTo:
      return "Missing To";
    case ParseError::MissingCallId:
      return "Missing Call-ID";
    case ParseError::MissingCSeq:
      return "Missing CSeq";
    case ParseError::DuplicateHeader:
      return "Duplicate Single-Valued Header";
    case ParseError::BadVia:
      return "Malformed Via";
    case ParseError::BadFrom:
      return "Malformed From";
    case ParseError::BadTo:
      return "Malformed To";
    case ParseError::BadNameAddr:
      return "Malformed Address";
    case ParseError::UnterminatedQuote:
      return "Unterminated Quoted String";
    case ParseError::BadCallId:
      return "Malformed Call-ID";
    case ParseError::BadCSeq:
      return "Malformed CSeq";
    case ParseError::CSeqMethodMismatch:
      return "CSeq Method Does Not Match";
    case ParseError::BadMaxForwards:
      return "Malformed Max-Forwards";
    case ParseError::BadContentLength:
      return "Malformed Content-Length";
    case ParseError::ConflictingContentLength:
      return "Conflicting Content-Length";
    case ParseError::BodyTruncated:
      return "Body Shorter Than Content-Length";
    case ParseError::BadExpires:
      return "Malformed Expires";
    case ParseError::BadContact:
      return "Malformed Contact";
    case ParseError::BadParam:
      return "Malformed Parameter";
    case ParseError::BadToken:
      return "Malformed Token";
    case ParseError::BadAuthorization:
      return "Malformed Authorization";
    case ParseError::BadUri:
      return "Malformed URI";
    case ParseError::BadScheme:
      return "Malformed URI Scheme";
    case ParseError::BadHost:
      return "Malformed Host";
    case ParseError::BadPort:
      return "Malformed Port";
    case ParseError::BadEscape:
      return "Malformed Escape";
  }
  return "Malformed Message";
}

}  // namespace sipline::sip
