// Reason phrases for the SIP response code registry (IANA "Response Codes", RFC 3261 §21 and
// the RFCs named in status_codes.hpp). Lookup is one bounds check and one array load: the
// table is built at compile time with an entry for every code in 100-699.
#include "sip/status_codes.hpp"

#include <array>
#include <cstddef>

namespace sipline::sip {
namespace {

constexpr std::uint16_t kFirstCode = 100;
constexpr std::uint16_t kLastCode = 699;
constexpr std::size_t kCodeCount = kLastCode - kFirstCode + 1;

struct RegisteredCode {
  std::uint16_t code;
  std::string_view phrase;
};

// Phrases as registered. Where a later RFC renamed a code, the later name wins: RFC 8224
// renamed 436 ("Bad Identity-Info") and 437 ("Unsupported Certificate") of RFC 4474.
constexpr RegisteredCode kRegistry[] = {
    {100, "Trying"},
    {180, "Ringing"},
    {181, "Call Is Being Forwarded"},
    {182, "Queued"},
    {183, "Session Progress"},
    {199, "Early Dialog Terminated"},  // RFC 6228
    {200, "OK"},
    {202, "Accepted"},         // RFC 3265, deprecated by RFC 6665 but still registered
    {204, "No Notification"},  // RFC 5839
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Moved Temporarily"},
    {305, "Use Proxy"},
    {380, "Alternative Service"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {410, "Gone"},
    {412, "Conditional Request Failed"},  // RFC 3903
    {413, "Request Entity Too Large"},
    {414, "Request-URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Unsupported URI Scheme"},
    {417, "Unknown Resource-Priority"},  // RFC 4412
    {420, "Bad Extension"},
    {421, "Extension Required"},
    {422, "Session Interval Too Small"},  // RFC 4028
    {423, "Interval Too Brief"},
    {424, "Bad Location Information"},          // RFC 6442
    {428, "Use Identity Header"},               // RFC 8224
    {429, "Provide Referrer Identity"},         // RFC 3892
    {430, "Flow Failed"},                       // RFC 5626
    {433, "Anonymity Disallowed"},              // RFC 5079
    {436, "Bad Identity Info"},                 // RFC 8224
    {437, "Unsupported Credential"},            // RFC 8224
    {438, "Invalid Identity Header"},           // RFC 8224
    {439, "First Hop Lacks Outbound Support"},  // RFC 5626
    {440, "Max-Breadth Exceeded"},              // RFC 5393
    {469, "Bad Info Package"},                  // RFC 6086
    {470, "Consent Needed"},                    // RFC 5360
    {480, "Temporarily Unavailable"},
    {481, "Call/Transaction Does Not Exist"},
    {482, "Loop Detected"},
    {483, "Too Many Hops"},
    {484, "Address Incomplete"},
    {485, "Ambiguous"},
    {486, "Busy Here"},
    {487, "Request Terminated"},
    {488, "Not Acceptable Here"},
    {489, "Bad Event"},  // RFC 6665
    {491, "Request Pending"},
    {493, "Undecipherable"},
    {494, "Security Agreement Required"},  // RFC 3329
    {500, "Server Internal Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Server Time-out"},
    {505, "Version Not Supported"},
    {513, "Message Too Large"},
    {555, "Push Notification Service Not Supported"},  // RFC 8599
    {580, "Precondition Failure"},                     // RFC 3312
    {600, "Busy Everywhere"},
    {603, "Decline"},
    {604, "Does Not Exist Anywhere"},
    {606, "Not Acceptable"},
    {607, "Unwanted"},  // RFC 8197
    {608, "Rejected"},  // RFC 8688
};

// Unregistered codes get a phrase naming their class (RFC 3261 §21: a client treats an
// unknown code as x00 of its class, so the class is what the phrase can honestly say).
constexpr std::string_view kClassDefaults[] = {
    "Unknown Provisional",  "Unknown Success",      "Unknown Redirection",
    "Unknown Client Error", "Unknown Server Error", "Unknown Global Failure",
};

struct PhraseEntry {
  std::string_view phrase;
  bool registered = false;
};

constexpr std::array<PhraseEntry, kCodeCount> build_table() {
  std::array<PhraseEntry, kCodeCount> table{};
  for (std::size_t i = 0; i < kCodeCount; ++i)
    table[i].phrase = kClassDefaults[i / 100];
  for (const RegisteredCode& entry : kRegistry) {
    table[entry.code - kFirstCode] = PhraseEntry{entry.phrase, true};
  }
  return table;
}

constexpr std::array<PhraseEntry, kCodeCount> kTable = build_table();

constexpr bool in_range(std::uint16_t code) {
  return code >= kFirstCode && code <= kLastCode;
}

}  // namespace

std::string_view reason_phrase(std::uint16_t code) {
  return in_range(code) ? kTable[code - kFirstCode].phrase : std::string_view{};
}

bool is_registered_status(std::uint16_t code) {
  return in_range(code) && kTable[code - kFirstCode].registered;
}

}  // namespace sipline::sip
