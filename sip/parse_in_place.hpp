// In-place forms of the Via, name-addr and URI parsers, for the message parser.
//
// parse_message_into() fills a Message that a worker reuses for every datagram. Via, NameAddr
// and Uri are 136-216 octets each: building one in a Parsed<T> and copying it into the
// Message costs about as much as parsing the short value it describes, so the message parser
// has these write straight into its fields. Everyone else calls parse_via(),
// parse_name_addr() and parse_uri(), which are these wrapped in a Parsed<T>.
//
// Contract: `out` holds T{} on entry (Message's reset and a fresh Parsed<T> both ensure it).
// On success it holds the parsed value; on failure it is T{} again, which is what the
// Parsed<T> forms carry as value on failure, so both forms leave the same state behind.
#pragma once

#include <string_view>

#include "sip/name_addr.hpp"
#include "sip/parse_error.hpp"
#include "sip/uri.hpp"
#include "sip/via.hpp"

namespace sipline::sip {

ParseError parse_via_in_place(std::string_view element, Via& out);
ParseError parse_name_addr_in_place(std::string_view element, UriDepth depth, NameAddr& out);
ParseError parse_uri_in_place(std::string_view text, Uri& out);

// The two ways parse_via_in_place() parses a Via, exposed so that a test can prove them equal
// (same contract on `out`). The common form (see via.cpp) is tried first: true when `element`
// has that form and was parsed into `out`; false (with `out` reset to Via{}) sends it to the
// general parser, which handles all of RFC 3261 §25.1 (LWS and folding anywhere, quoted
// values) and reports errors.
bool parse_via_common_form(std::string_view element, Via& out);
ParseError parse_via_general(std::string_view element, Via& out);

}  // namespace sipline::sip
