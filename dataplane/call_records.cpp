#include "dataplane/call_records.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "dataplane/log.hpp"
#include "sip/status_codes.hpp"

namespace sipline::dataplane {
namespace {

std::uint64_t text_hash(std::string_view text) {
  return std::hash<std::string_view>{}(text);
}

// The call a record belongs to, whichever side sent the BYE (its From and To swap).
std::uint64_t call_key(const CallRecord& record) {
  const std::uint64_t from = text_hash(record.get(CallRecord::Field::FromTag));
  const std::uint64_t to = text_hash(record.get(CallRecord::Field::ToTag));
  return text_hash(record.get(CallRecord::Field::CallId)) ^ (from + to) * 0x9E3779B97F4A7C15ull;
}

void append_json_string(std::string& line, std::string_view text, bool cut) {
  line += '"';
  for (const char c : text) {
    const auto octet = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      line += '\\';
      line += c;
    } else if (octet < 0x20 || octet >= 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", octet);
      line += escaped;
    } else {
      line += c;
    }
  }
  if (cut) line += "...";
  line += '"';
}

void append_field(std::string& line, std::string_view name, std::string_view text,
                  bool cut = false) {
  line += ",\"";
  line += name;
  line += "\":";
  append_json_string(line, text, cut);
}

// "2026-11-29T16:20:01.123Z" (UTC, RFC 3339).
void append_time(std::string& line, std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  line += text;
}

std::string_view event_name(CallRecord::Event event) {
  switch (event) {
    case CallRecord::Event::Answered:
      return "answered";
    case CallRecord::Event::Failed:
      return "failed";
    case CallRecord::Event::Ended:
      return "ended";
  }
  return "unknown";
}

}  // namespace

CallRecord* CallRecordRing::claim() {
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (tail - cached_head_ == kCallRecordRingSize) {
    cached_head_ = head_.load(std::memory_order_acquire);
    if (tail - cached_head_ == kCallRecordRingSize) return nullptr;
  }
  return &slots_[tail & (kCallRecordRingSize - 1)];
}

std::string CallRecordLog::open(const std::string& path) {
  path_ = path;
  return reopen();
}

std::string CallRecordLog::reopen() {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return "cannot open " + path_ + ": " + std::strerror(errno);
  flush();
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  logged_write_error_ = false;
  return {};
}

CallRecordLog::~CallRecordLog() {
  flush();
  if (fd_ >= 0) ::close(fd_);
}

void CallRecordLog::take(const CallRecord& record, std::int64_t unix_ms) {
  const std::uint64_t key = call_key(record);
  const auto found = calls_.find(key);
  Call* call = found != calls_.end() ? &found->second : nullptr;
  switch (record.event) {
    case CallRecord::Event::Answered:
    case CallRecord::Event::Failed: {
      // A 2xx sent again until the ACK, a re-INVITE's 2xx, a failure sent again: written once.
      if (call != nullptr) {
        ++counters_.duplicates;
        return;
      }
      const bool answered = record.event == CallRecord::Event::Answered;
      if (calls_.size() < kMaxCalls) {
        call = &calls_[key];
        call->answered_ms = answered ? unix_ms : 0;
        call->done_ms = answered ? 0 : unix_ms;
        call->caller_tag = text_hash(record.get(CallRecord::Field::FromTag));
      } else if (answered) {
        ++counters_.untracked;
      }
      write_line(record, unix_ms, nullptr);
      return;
    }
    case CallRecord::Event::Ended:
      if (call != nullptr && call->done_ms != 0) {
        ++counters_.duplicates;  // the BYE's 200 again (its BYE was sent again)
        return;
      }
      write_line(record, unix_ms, call);
      if (call != nullptr) {
        call->done_ms = unix_ms;
      } else if (calls_.size() < kMaxCalls) {
        calls_[key] = Call{0, unix_ms, 0};  // answered before we started, or untracked
      }
      return;
  }
}

void CallRecordLog::write_line(const CallRecord& record, std::int64_t unix_ms, const Call* call) {
  std::string& line = buffer_;
  line += "{\"time\":";
  append_time(line, unix_ms);
  append_field(line, "event", event_name(record.event));
  line += ",\"code\":" + std::to_string(record.code);
  const std::string_view reason = record.get(CallRecord::Field::Reason);
  append_field(line, "reason", reason.empty() ? sip::reason_phrase(record.code) : reason,
               record.is_cut(CallRecord::Field::Reason));
  using Field = CallRecord::Field;
  for (const auto& [name, field] :
       {std::pair{"call_id", Field::CallId}, std::pair{"from_tag", Field::FromTag},
        std::pair{"to_tag", Field::ToTag}, std::pair{"from", Field::FromUser},
        std::pair{"to", Field::ToUser}}) {
    append_field(line, name, record.get(field), record.is_cut(field));
  }
  append_field(line, "caller", format_peer(record.caller).view());
  if (!record.local) append_field(line, "callee", format_peer(record.callee).view());
  if (record.local) line += ",\"by_proxy\":true";
  switch (record.event) {
    case CallRecord::Event::Answered:
      ++counters_.answered;
      break;
    case CallRecord::Event::Failed:
      ++counters_.failed;
      break;
    case CallRecord::Event::Ended:
      ++counters_.ended;
      break;
  }
  if (call != nullptr && call->answered_ms != 0) {
    const std::int64_t duration_ms = std::max<std::int64_t>(unix_ms - call->answered_ms, 0);
    ++counters_.ended_timed;
    counters_.talk_ms += static_cast<std::uint64_t>(duration_ms);
    line += ",\"duration_ms\":" + std::to_string(duration_ms);
    // The BYE's From is the side that hung up (its From tag is its own, §12.2.1.1).
    const bool by_caller = text_hash(record.get(CallRecord::Field::FromTag)) == call->caller_tag;
    append_field(line, "ended_by", by_caller ? "caller" : "callee");
  }
  line += "}\n";
  ++counters_.written;
}

std::size_t CallRecordLog::drain(std::span<CallRecordRing> rings, std::int64_t unix_ms) {
  std::size_t taken = 0;
  for (CallRecordRing& ring : rings) {
    taken += ring.drain([&](const CallRecord& record) { take(record, unix_ms); });
  }
  if (!buffer_.empty()) flush();
  return taken;
}

void CallRecordLog::expire(std::int64_t unix_ms) {
  std::erase_if(calls_, [this, unix_ms](const auto& entry) {
    const Call& call = entry.second;
    if (call.done_ms != 0) return unix_ms - call.done_ms > kEchoWindowMs;
    if (unix_ms - call.answered_ms <= kMaxCallMs) return false;
    ++counters_.unended;
    return true;
  });
}

void CallRecordLog::flush() {
  if (buffer_.empty() || fd_ < 0) return;
  std::string_view rest = buffer_;
  while (!rest.empty()) {
    const ssize_t written = ::write(fd_, rest.data(), rest.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      ++counters_.write_errors;
      if (!logged_write_error_) {
        logged_write_error_ = true;
        SIPLINE_LOG_ERROR(
            "accounting: cannot write to %s: %s (call records are lost until a "
            "reload opens it again)",
            path_.c_str(), written < 0 ? std::strerror(errno) : "nothing written");
      }
      break;
    }
    rest.remove_prefix(static_cast<std::size_t>(written));
  }
  buffer_.clear();
}

CallAccounting open_call_accounting(const std::string& file, bool record_route,
                                    std::size_t workers) {
  CallAccounting accounting;
  if (file.empty()) return accounting;
  accounting.log = std::make_unique<CallRecordLog>();
  accounting.error = accounting.log->open(file);
  if (!accounting.error.empty()) {
    SIPLINE_LOG_ERROR("accounting: %s", accounting.error.c_str());
    return accounting;
  }
  accounting.rings = std::make_unique<CallRecordRing[]>(workers);
  accounting.workers = workers;
  SIPLINE_LOG_INFO("accounting: call records are appended to %s", file.c_str());
  if (!record_route) {
    SIPLINE_LOG_WARN(
        "accounting: [domain] record_route is off: phones send their BYEs to each "
        "other, not through the proxy, so calls get no \"ended\" record unless a "
        "phone routes them here");
  }
  return accounting;
}

std::string CallRecordLog::counters_text() const {
  return "accounting: answered=" + std::to_string(counters_.answered) +
         " failed=" + std::to_string(counters_.failed) +
         " ended=" + std::to_string(counters_.ended) +
         " ended_timed=" + std::to_string(counters_.ended_timed) +
         " talk_ms=" + std::to_string(counters_.talk_ms) +
         " written=" + std::to_string(counters_.written) +
         " duplicates=" + std::to_string(counters_.duplicates) +
         " untracked=" + std::to_string(counters_.untracked) +
         " unended=" + std::to_string(counters_.unended) +
         " write_errors=" + std::to_string(counters_.write_errors) +
         " calls=" + std::to_string(calls_.size()) + "\n";
}

}  // namespace sipline::dataplane
