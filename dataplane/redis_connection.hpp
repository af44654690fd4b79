// One blocking connection to Redis (hiredis), for the control plane's own threads: the
// location store's writer (redis_store.hpp) and the change subscriber (location_sync.hpp).
// Never used on a worker.
//
// A lost connection is dropped at the first I/O error; the next call connects again, at most
// once per kReconnectInterval, so a Redis that is down costs one failed connect per second
// rather than one per write (each of which would wait out the connect timeout on a
// black-holed address).
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

struct redisContext;
struct redisReply;

namespace sipline::dataplane {

struct RedisReplyDeleter {
  void operator()(redisReply* reply) const;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// A command's arguments, binary-safe ("SET", key, value, "EXAT", "1700000000").
using RedisCommand = std::vector<std::string>;

struct RedisReplies {
  std::vector<RedisReply> replies;  // one per command, in order (when error is empty)
  std::string error;                // connection or protocol failure; Redis errors are replies

  bool ok() const { return error.empty(); }
};

// A string, status or error reply's text (a view into the reply); "" for the other types.
std::string_view reply_text(const redisReply& reply);
// Redis's own error text, when the reply is one ("" otherwise).
std::string reply_error(const redisReply& reply);

class RedisConnection {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{2000};
  static constexpr std::chrono::milliseconds kReconnectInterval{1000};

  explicit RedisConnection(config::RedisEndpoint endpoint,
                           std::chrono::milliseconds timeout = kDefaultTimeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects (TCP, AUTH, SELECT) unless connected; "" or why it could not. Within
  // kReconnectInterval of a failed attempt it does not try again and says so.
  std::string connect();
  bool connected() const noexcept { return context_ != nullptr; }
  void disconnect() noexcept;

  // Sends the commands in one write and reads one reply each (a pipeline: one round trip).
  // Connects first when needed. An I/O error drops the connection; when an already open
  // connection is found closed before the first reply (Redis restarted meanwhile) the commands
  // are sent once more on a new one; after a time-out they are not (they may have run).
  RedisReplies run(std::span<const RedisCommand> commands);
  RedisReplies run(const RedisCommand& command) { return run(std::span(&command, 1)); }

  // For the subscriber, which waits on the socket with poll(2) and parses what arrived.
  int fd() const noexcept;
  // Reads what the socket holds: "" or why not (then disconnected: EOF, an error).
  std::string read_available();
  // The next complete reply already read (null when none is complete yet), or an error.
  struct BufferedReply {
    RedisReply reply;
    std::string error;
  };
  BufferedReply next_buffered_reply();

  const config::RedisEndpoint& endpoint() const noexcept { return endpoint_; }

 private:
  RedisReplies run_once(std::span<const RedisCommand> commands);
  std::string fail(std::string why);  // disconnects; returns "redis HOST:PORT: why"
  std::string open_context();
  std::string authenticate_and_select();

  config::RedisEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  std::chrono::steady_clock::time_point last_failed_attempt_{};
  bool ever_failed_ = false;
  std::string last_error_;
  bool last_failure_closed_ = false;  // run_once's failure found the connection closed
};

}  // namespace sipline::dataplane
