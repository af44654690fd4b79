#include "dataplane/redis_connection.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

namespace sipline::dataplane {
namespace {

timeval to_timeval(std::chrono::milliseconds timeout) {
  return timeval{static_cast<time_t>(timeout.count() / 1000),
                 static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
}

// The peer closed the connection (EOF, a reset, a broken pipe): nothing sent on it ran. A
// time-out (EAGAIN) says nothing of the kind.
bool found_closed(const redisContext& context) {
  if (context.err == REDIS_ERR_EOF) return true;
  return context.err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE);
}

std::string context_error(const redisContext& context) {
  return context.errstr[0] != '\0' ? std::string(context.errstr) : "connection lost";
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* reply) const {
  freeReplyObject(reply);
}

std::string_view reply_text(const redisReply& reply) {
  return reply.str != nullptr ? std::string_view(reply.str, reply.len) : std::string_view();
}

std::string reply_error(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return {};
  return reply.str != nullptr ? std::string(reply_text(reply)) : "error";
}

RedisConnection::RedisConnection(config::RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

RedisConnection::~RedisConnection() {
  disconnect();
}

void RedisConnection::disconnect() noexcept {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

std::string RedisConnection::fail(std::string why) {
  disconnect();
  return "redis " + endpoint_.describe() + ": " + why;
}

std::string RedisConnection::connect() {
  if (context_ != nullptr) return {};
  const auto now = std::chrono::steady_clock::now();
  if (ever_failed_ && now - last_failed_attempt_ < kReconnectInterval) {
    return last_error_ + " (next connection attempt within 1 s)";
  }
  std::string error = open_context();
  if (error.empty()) error = authenticate_and_select();
  if (!error.empty()) {
    ever_failed_ = true;
    last_failed_attempt_ = now;
    last_error_ = error;
  }
  return error;
}

std::string RedisConnection::open_context() {
  context_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, to_timeval(timeout_));
  if (context_ == nullptr) return fail("cannot allocate a connection");
  if (context_->err != 0) return fail("connect: " + context_error(*context_));
  // Every later read and write waits at most this long: a hung Redis cannot hold the store
  // thread (or shutdown) for ever.
  if (redisSetTimeout(context_, to_timeval(timeout_)) != REDIS_OK) {
    return fail("cannot set the socket timeout");
  }
  // TCP keepalive: a Redis host that vanishes without a reset (power, network) is noticed by
  // the subscriber, which otherwise waits on a silent socket for ever.
  if (redisEnableKeepAlive(context_) != REDIS_OK) return fail("cannot enable TCP keepalive");
  return {};
}

std::string RedisConnection::authenticate_and_select() {
  std::vector<RedisCommand> commands;
  if (!endpoint_.password.empty()) {
    if (endpoint_.user.empty()) {
      commands.push_back({"AUTH", endpoint_.password});
    } else {
      commands.push_back({"AUTH", endpoint_.user, endpoint_.password});
    }
  }
  if (endpoint_.db != 0) commands.push_back({"SELECT", std::to_string(endpoint_.db)});
  if (commands.empty()) return {};
  // run_once, not run(): a connection lost here must fail this attempt (and be throttled by
  // connect()), not open another one from inside this one.
  RedisReplies replies = run_once(commands);
  if (!replies.ok()) return replies.error;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const std::string error = reply_error(*replies.replies[i]);
    if (!error.empty()) return fail(commands[i][0] + ": " + error);
  }
  return {};
}

RedisReplies RedisConnection::run(std::span<const RedisCommand> commands) {
  const bool was_connected = context_ != nullptr;
  RedisReplies result = run_once(commands);
  if (!result.ok() && was_connected && context_ == nullptr && last_failure_closed_) {
    // A connection that worked before was found closed (Redis restarted, or a proxy between
    // closed it): the commands did not run there; once more on a fresh connection. Not after
    // a time-out: Redis may have run them, and a save sent again seconds later could undo a
    // newer one from another node.
    result = run_once(commands);
  }
  return result;
}

RedisReplies RedisConnection::run_once(std::span<const RedisCommand> commands) {
  RedisReplies result;
  last_failure_closed_ = false;
  if (context_ == nullptr) {
    result.error = connect();
    if (!result.error.empty()) return result;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const RedisCommand& command : commands) {
    argv.clear();
    lengths.clear();
    for (const std::string& argument : command) {
      argv.push_back(argument.data());
      lengths.push_back(argument.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                               lengths.data()) != REDIS_OK) {
      result.error = fail("cannot queue " + command.front() + ": " + context_error(*context_));
      return result;
    }
  }
  result.replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_, &reply) != REDIS_OK || reply == nullptr) {
      last_failure_closed_ = i == 0 && found_closed(*context_);
      result.error = fail(commands[i].front() + ": " + context_error(*context_));
      result.replies.clear();
      return result;
    }
    result.replies.emplace_back(static_cast<redisReply*>(reply));
  }
  return result;
}

int RedisConnection::fd() const noexcept {
  return context_ != nullptr ? context_->fd : -1;
}

std::string RedisConnection::read_available() {
  if (context_ == nullptr) return "not connected";
  if (redisBufferRead(context_) != REDIS_OK) return fail(context_error(*context_));
  return {};
}

RedisConnection::BufferedReply RedisConnection::next_buffered_reply() {
  if (context_ == nullptr) return {nullptr, "not connected"};
  void* reply = nullptr;
  if (redisGetReplyFromReader(context_, &reply) != REDIS_OK) {
    return {nullptr, fail("protocol error: " + context_error(*context_))};
  }
  return {RedisReply(static_cast<redisReply*>(reply)), {}};
}

}  // namespace sipline::dataplane
