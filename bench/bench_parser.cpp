// Parser micro-benchmark: sipline against sofia-sip and osip2 on the same messages, measured
// in the same run so their ratio is meaningful on whatever machine runs it.
//
// Benchmark names are "<kind>/<library>/<message file>", e.g.
//   BM_parse/sipline/invite-carrier-sdp.sip
//   BM_parse/sofia/invite-carrier-sdp.sip
//   BM_parse/osip/invite-carrier-sdp.sip
//   BM_parse_rewrite/sipline/invite-carrier-sdp.sip
// so bench/parser_report.py can pair them. What each library parses is in bench/README.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/branch.hpp"
#include "sip/message.hpp"
#include "sip/rewrite.hpp"
#include "sip/route_token.hpp"

extern "C" {
#include <osipparser2/osip_parser.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
}

#ifndef SIPLINE_CORPUS_DIR
#error "SIPLINE_CORPUS_DIR must name tests/corpus (set by bench/CMakeLists.txt)"
#endif

namespace {

// Real carrier traffic plus the RFC 4475 long request (34 Via lines, very long values).
constexpr std::array<std::string_view, 5> kMessageFiles = {
    "carrier/invite-carrier-sdp.sip",
    "carrier/200ok-carrier-sdp.sip",
    "carrier/register-carrier-auth.sip",
    "carrier/bye-carrier-short.sip",
    "rfc4475/longreq.dat",
};

// The INVITE is what a proxy forwards most; it is the one the rewrite benchmark uses.
constexpr std::string_view kRewriteMessageFile = "carrier/invite-carrier-sdp.sip";

struct CorpusMessage {
  std::string name;   // file name without its folder: the suffix of the benchmark name
  std::string bytes;  // the datagram exactly as stored
};

std::string file_name_of(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool read_corpus_file(std::string_view relative_path, std::string& contents) {
  const std::string path = std::string(SIPLINE_CORPUS_DIR) + "/" + std::string(relative_path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  contents.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

void count_bytes(benchmark::State& state, const CorpusMessage& message) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(message.bytes.size()));
}

// ---- sipline -----------------------------------------------------------------------------

// One Message reused by every iteration, as a worker reuses its own; about 10 KiB, so it
// lives outside the stack and outside the timed loop. The benchmarks run single-threaded.
sipline::sip::Message& sipline_message_storage() {
  static sipline::sip::Message storage;
  return storage;
}

void BM_parse_sipline(benchmark::State& state, const CorpusMessage* input) {
  using sipline::sip::parse_message_into;
  sipline::sip::Message& message = sipline_message_storage();
  const std::string_view data = input->bytes;

  parse_message_into(message, data);
  if (!message.ok()) {
    state.SkipWithError(
        ("sipline refused the message: " + std::string(sipline::sip::describe(message.error)))
            .c_str());
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    parse_message_into(message, data);
    benchmark::DoNotOptimize(message.error);
    benchmark::DoNotOptimize(message.call_id.data());
    benchmark::ClobberMemory();
  }
  count_bytes(state, *input);
}

// The forwarded request parses, with one more Via and Max-Forwards one less than received:
// the rewrite benchmark must time a writer that does its job.
bool forwarded_as_expected(const sipline::sip::Message& received, std::string_view forwarded) {
  static sipline::sip::Message reparsed;
  sipline::sip::parse_message_into(reparsed, forwarded);
  return reparsed.ok() && reparsed.via_count == received.via_count + 1 &&
         reparsed.has_max_forwards && received.has_max_forwards &&
         reparsed.max_forwards + 1 == received.max_forwards && reparsed.call_id == received.call_id;
}

// What a stateless proxy does per forwarded request (RFC 3261 §16.6, §16.11): parse, compute
// the branch from the received message, write the message with our Via on top and
// Max-Forwards decremented.
// RecordRoute::Plain adds our Record-Route; RecordRoute::Signed adds it with the Call-ID's
// token ([domain] route_secret, sip/route_token.hpp), as the pipeline writes them.
enum class RecordRoute { None, Plain, Signed };

void BM_parse_rewrite_sipline(benchmark::State& state, const CorpusMessage* input,
                              RecordRoute record_route) {
  using namespace sipline::sip;
  Message& message = sipline_message_storage();
  static std::array<char, kMaxMessageSize> out;
  static std::array<char, 128> signed_uri;
  const std::string_view data = input->bytes;
  constexpr BranchKey kKey{0x5eed'cafe'f00d'1234ULL};
  constexpr std::string_view kOurUri = "sip:203.0.113.10:5060";
  const SipHashKey route_key = route_token_key("5f0c1d7e9a2b4c6d8e0f1a3b5c7d9e1f");

  auto forward = [&]() {
    parse_message_into(message, data);
    const Branch branch = stateless_branch(message, kKey);
    RequestEdits edits;
    edits.via.transport = "UDP";
    edits.via.sent_by = "203.0.113.10:5060";
    edits.via.branch = branch.view();
    edits.via.rport = true;
    if (record_route == RecordRoute::Plain) edits.record_route_uri = kOurUri;
    if (record_route == RecordRoute::Signed) {
      const auto token = route_token(route_key, message.call_id);
      char* at = std::copy(kOurUri.begin(), kOurUri.end(), signed_uri.data());
      at = std::copy_n(";rt=", 4, at);
      at = std::copy(token.begin(), token.end(), at);
      edits.record_route_uri = {signed_uri.data(),
                                static_cast<std::size_t>(at - signed_uri.data())};
    }
    return write_forwarded_request(message, edits, out);
  };

  const Written first = forward();
  if (!message.ok() || !message.is_request()) {
    state.SkipWithError("sipline refused the request");
    return;
  }
  if (!first.ok() || !forwarded_as_expected(message, {out.data(), first.size})) {
    state.SkipWithError("write_forwarded_request failed or wrote an unexpected message");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    const Written written = forward();
    benchmark::DoNotOptimize(written);
    benchmark::ClobberMemory();
  }
  count_bytes(state, *input);
}

// The token alone: what [domain] route_secret adds per record-routed request, and again per
// in-dialog request checked (a SipHash-2-4 of the Call-ID and its hex).
void BM_route_token(benchmark::State& state, const CorpusMessage* input) {
  using namespace sipline::sip;
  Message& message = sipline_message_storage();
  parse_message_into(message, input->bytes);
  const SipHashKey key = route_token_key("5f0c1d7e9a2b4c6d8e0f1a3b5c7d9e1f");
  for (auto _ : state) {
    benchmark::DoNotOptimize(message.call_id.data());
    const auto token = route_token(key, message.call_id);
    benchmark::DoNotOptimize(token);
  }
}

// ---- sofia-sip ---------------------------------------------------------------------------

// The receive path of sofia's transport layer (tport): a msg_t of the default SIP class,
// the datagram copied into the buffer msg_recv_iovec() hands out, then msg_extract(), which
// parses the start line and every header of a known class into its sip_*_t structure.
msg_t* sofia_parse(std::string_view data) {
  msg_t* msg = msg_create(sip_default_mclass(), 0);
  if (msg == nullptr) return nullptr;
  msg_iovec_t iovec[1];
  if (msg_recv_iovec(msg, iovec, 1, data.size(), 1) < 0 || iovec[0].mv_len < data.size()) {
    msg_destroy(msg);
    return nullptr;
  }
  std::memcpy(iovec[0].mv_base, data.data(), data.size());
  msg_recv_commit(msg, data.size(), 1);
  if (msg_extract(msg) < 0) msg_set_flags(msg, MSG_FLG_ERROR);
  return msg;
}

void BM_parse_sofia(benchmark::State& state, const CorpusMessage* input) {
  const std::string_view data = input->bytes;
  {
    msg_t* msg = sofia_parse(data);
    const sip_t* sip = msg == nullptr ? nullptr : sip_object(msg);
    const bool usable = sip != nullptr && !msg_has_error(msg) && sip->sip_call_id != nullptr &&
                        sip->sip_via != nullptr && sip->sip_cseq != nullptr &&
                        sip->sip_from != nullptr && sip->sip_to != nullptr;
    if (msg != nullptr) msg_destroy(msg);
    if (!usable) {
      state.SkipWithError("sofia-sip did not parse the message");
      return;
    }
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    msg_t* msg = sofia_parse(data);
    benchmark::DoNotOptimize(sip_object(msg)->sip_call_id);
    msg_destroy(msg);
  }
  count_bytes(state, *input);
}

// ---- osip2 -------------------------------------------------------------------------------

// osip_message_parse() copies the buffer, then parses the start line and each header;
// known headers (Via, From, To, Contact, CSeq, Call-ID, Authorization, ...) become
// structures, the others name/value pairs, and the body an osip_body_t.
void BM_parse_osip(benchmark::State& state, const CorpusMessage* input) {
  const std::string_view data = input->bytes;
  {
    osip_message_t* sip = nullptr;
    bool usable =
        osip_message_init(&sip) == 0 && osip_message_parse(sip, data.data(), data.size()) == 0;
    usable = usable && sip->call_id != nullptr && osip_list_size(&sip->vias) > 0 &&
             sip->cseq != nullptr && sip->from != nullptr && sip->to != nullptr;
    if (sip != nullptr) osip_message_free(sip);
    if (!usable) {
      state.SkipWithError("osip2 did not parse the message");
      return;
    }
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    osip_message_t* sip = nullptr;
    osip_message_init(&sip);
    const int result = osip_message_parse(sip, data.data(), data.size());
    benchmark::DoNotOptimize(result);
    benchmark::DoNotOptimize(sip->call_id);
    osip_message_free(sip);
  }
  count_bytes(state, *input);
}

// ------------------------------------------------------------------------------------------

std::vector<CorpusMessage> load_messages() {
  std::vector<CorpusMessage> messages;
  messages.reserve(kMessageFiles.size());
  for (std::string_view file : kMessageFiles) {
    CorpusMessage message{file_name_of(file), {}};
    if (!read_corpus_file(file, message.bytes)) {
      std::fprintf(stderr, "bench_parser: cannot read %s/%.*s\n", SIPLINE_CORPUS_DIR,
                   static_cast<int>(file.size()), file.data());
      return {};
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

void register_benchmarks(const std::vector<CorpusMessage>& messages) {
  // Grouped by message, so the three libraries' lines sit next to each other in the table.
  for (const CorpusMessage& message : messages) {
    benchmark::RegisterBenchmark(("BM_parse/sipline/" + message.name).c_str(), BM_parse_sipline,
                                 &message);
    benchmark::RegisterBenchmark(("BM_parse/sofia/" + message.name).c_str(), BM_parse_sofia,
                                 &message);
    benchmark::RegisterBenchmark(("BM_parse/osip/" + message.name).c_str(), BM_parse_osip,
                                 &message);
  }
  const std::string rewrite_name = file_name_of(kRewriteMessageFile);
  for (const CorpusMessage& message : messages) {
    if (message.name != rewrite_name) continue;
    benchmark::RegisterBenchmark(("BM_parse_rewrite/sipline/" + message.name).c_str(),
                                 BM_parse_rewrite_sipline, &message, RecordRoute::None);
    benchmark::RegisterBenchmark(("BM_parse_rewrite_rr/sipline/" + message.name).c_str(),
                                 BM_parse_rewrite_sipline, &message, RecordRoute::Plain);
    benchmark::RegisterBenchmark(("BM_parse_rewrite_rr_signed/sipline/" + message.name).c_str(),
                                 BM_parse_rewrite_sipline, &message, RecordRoute::Signed);
    benchmark::RegisterBenchmark(("BM_route_token/sipline/" + message.name).c_str(), BM_route_token,
                                 &message);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  // osip2 builds its header-name lookup table once per process.
  if (parser_init() != 0) {
    std::fprintf(stderr, "bench_parser: osip2 parser_init() failed\n");
    return 1;
  }
  // Registered benchmarks keep pointers into this vector: it must outlive the run.
  static const std::vector<CorpusMessage> messages = load_messages();
  if (messages.empty()) return 1;
  register_benchmarks(messages);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
