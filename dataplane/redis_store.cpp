#include "dataplane/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>
#include <string_view>
#include <unordered_set>

#include "dataplane/binding_codec.hpp"

namespace sipline::dataplane {
namespace {

// Keys per SCAN step and per MGET: large enough that a million AORs load in a thousand
// round trips, small enough that one step never blocks Redis noticeably.
constexpr std::size_t kScanBatch = 1000;
// Saves pipelined in one round trip (four commands each): the replies of a round trip are
// buffered whole, so this bounds that buffer.
constexpr std::size_t kSavesPerRoundTrip = 256;

RedisCommand save_command(std::string_view aor, const std::vector<sip::Binding>& bindings) {
  if (bindings.empty()) return {"DEL", redis_location_key(aor)};
  std::int64_t latest = 0;
  for (const sip::Binding& binding : bindings)
    latest = std::max(latest, binding.expires_at);
  return {"SET", redis_location_key(aor), encode_bindings(bindings), "EXAT",
          std::to_string(std::max<std::int64_t>(latest, 1))};
}

// One SCAN step's keys, then their values: their live bindings and the next cursor ("0":
// done).
struct ScanStep {
  std::string cursor;
  std::string error;
  LoadResult loaded;
};

// `seen`: the keys of the steps before. SCAN may return a key more than once (when the
// keyspace is resized during the scan); read twice, its bindings would be restored twice.
ScanStep scan_step(RedisConnection& connection, const std::string& cursor, std::int64_t now,
                   std::unordered_set<std::string>& seen) {
  const std::string pattern = std::string(kRedisLocationKeyPrefix) + "*";
  RedisReplies scanned = connection.run(
      RedisCommand{"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(kScanBatch)});
  if (!scanned.ok()) return {{}, scanned.error, {}};
  const redisReply& reply = *scanned.replies.front();
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 ||
      reply.element[1]->type != REDIS_REPLY_ARRAY) {
    return {{}, "SCAN: unexpected reply " + reply_error(reply), {}};
  }
  const redisReply& keys = *reply.element[1];
  ScanStep step{std::string(reply_text(*reply.element[0])), {}, {}};
  if (keys.elements == 0) return step;
  RedisCommand mget{"MGET"};
  for (std::size_t i = 0; i < keys.elements; ++i) {
    std::string key(reply_text(*keys.element[i]));
    if (seen.insert(key).second) mget.push_back(std::move(key));
  }
  if (mget.size() == 1) return step;  // every key was read in an earlier step
  RedisReplies values = connection.run(mget);
  if (!values.ok()) return {{}, values.error, {}};
  const redisReply& list = *values.replies.front();
  if (list.type != REDIS_REPLY_ARRAY || list.elements != mget.size() - 1) {
    return {{}, "MGET: unexpected reply " + reply_error(list), {}};
  }
  for (std::size_t i = 0; i < list.elements; ++i) {
    if (list.element[i]->type != REDIS_REPLY_STRING) continue;  // expired since the SCAN
    const std::string_view aor =
        std::string_view(mget[i + 1]).substr(kRedisLocationKeyPrefix.size());
    auto bindings = decode_bindings(reply_text(*list.element[i]), aor);
    if (!bindings) {
      ++step.loaded.unreadable;
      continue;
    }
    for (sip::Binding& binding : *bindings) {
      if (binding.expires_at > now) step.loaded.bindings.push_back(std::move(binding));
    }
  }
  return step;
}

}  // namespace

std::string redis_location_key(std::string_view aor) {
  return std::string(kRedisLocationKeyPrefix).append(aor);
}

std::string redis_change_channel(const config::RedisEndpoint& endpoint) {
  return "sipline:location:changes:" + std::to_string(endpoint.db);
}

LoadResult load_redis_bindings(RedisConnection& connection, std::int64_t now) {
  LoadResult result;
  std::string cursor = "0";
  std::unordered_set<std::string> seen;
  do {
    ScanStep step = scan_step(connection, cursor, now, seen);
    if (!step.error.empty()) return LoadResult{{}, std::move(step.error), 0};
    std::move(step.loaded.bindings.begin(), step.loaded.bindings.end(),
              std::back_inserter(result.bindings));
    result.unreadable += step.loaded.unreadable;
    cursor = std::move(step.cursor);
  } while (cursor != "0");
  return result;
}

RedisStore::RedisStore(const config::RedisEndpoint& endpoint, std::uint64_t node)
    : connection_(endpoint), node_(node), channel_(redis_change_channel(endpoint)) {}

OpenedStore RedisStore::open(const config::RedisEndpoint& endpoint, std::uint64_t node) {
  std::unique_ptr<RedisStore> store(new RedisStore(endpoint, node));
  const RedisReplies ping = store->connection_.run(RedisCommand{"PING"});
  if (!ping.ok()) return {nullptr, ping.error};
  if (std::string error = reply_error(*ping.replies.front()); !error.empty()) {
    return {nullptr, "redis " + endpoint.describe() + ": PING: " + error};
  }
  if (std::string error = store->check_version(); !error.empty()) return {nullptr, error};
  return {std::move(store), {}};
}

// SET ... EXAT needs Redis 6.2: refused at start rather than by every save.
std::string RedisStore::check_version() {
  const RedisReplies info = connection_.run(RedisCommand{"INFO", "server"});
  if (!info.ok()) return info.error;
  const std::string_view text = reply_text(*info.replies.front());
  constexpr std::string_view kField = "redis_version:";
  const std::size_t at = text.find(kField);
  if (at == std::string_view::npos) return {};  // a Redis-compatible server that does not say
  const std::string_view version =
      text.substr(at + kField.size(), text.find('\r', at) - at - kField.size());
  unsigned major = 0;
  unsigned minor = 0;
  if (std::sscanf(std::string(version).c_str(), "%u.%u", &major, &minor) == 2 &&
      (major < 6 || (major == 6 && minor < 2))) {
    return "redis " + describe() + ": version " + std::string(version) +
           " is too old: the location store needs 6.2 or later (SET ... EXAT)";
  }
  return {};
}

std::string RedisStore::describe() const {
  return connection_.endpoint().describe();
}

LoadResult RedisStore::load_all(std::int64_t now) {
  return load_redis_bindings(connection_, now);
}

std::array<RedisCommand, 4> RedisStore::save_commands(
    std::string_view aor, const std::vector<sip::Binding>& bindings) const {
  return {RedisCommand{"MULTI"}, save_command(aor, bindings),
          RedisCommand{"PUBLISH", channel_, encode_change_notice(node_, aor, bindings)},
          RedisCommand{"EXEC"}};
}

// The four replies of one save (MULTI, queued, queued, EXEC).
StoreResult RedisStore::save_result(std::span<const RedisReply> replies, std::string_view aor,
                                    std::size_t rows) const {
  const redisReply& exec = *replies.back();
  std::string why;
  if (exec.type != REDIS_REPLY_ARRAY) {
    // A queued command was refused (EXECABORT), or the server is read-only (a replica).
    why = reply_error(exec);
    for (const RedisReply& reply : replies) {
      if (why.empty()) why = reply_error(*reply);
    }
  }
  for (std::size_t i = 0; why.empty() && exec.type == REDIS_REPLY_ARRAY && i < exec.elements; ++i) {
    why = reply_error(*exec.element[i]);
  }
  if (why.empty()) return {{}, rows};
  return {"redis " + describe() + ": saving \"" + std::string(aor) + "\": " + why, 0};
}

StoreResult RedisStore::save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) {
  const RedisReplies replies = connection_.run(save_commands(aor, bindings));
  if (!replies.ok()) return {replies.error, 0};
  return save_result(replies.replies, aor, bindings.size());
}

std::vector<StoreResult> RedisStore::save_aors(std::span<const AorSave> saves) {
  std::vector<StoreResult> results;
  results.reserve(saves.size());
  std::vector<RedisCommand> commands;
  for (std::size_t first = 0; first < saves.size(); first += kSavesPerRoundTrip) {
    const auto chunk = saves.subspan(first, std::min(kSavesPerRoundTrip, saves.size() - first));
    commands.clear();
    for (const AorSave& save : chunk) {
      std::array<RedisCommand, 4> four = save_commands(save.aor, save.bindings);
      std::move(four.begin(), four.end(), std::back_inserter(commands));
    }
    const RedisReplies replies = connection_.run(commands);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      results.push_back(replies.ok() ? save_result(std::span(replies.replies).subspan(4 * i, 4),
                                                   chunk[i].aor, chunk[i].bindings.size())
                                     : StoreResult{replies.error, 0});
    }
  }
  return results;
}

}  // namespace sipline::dataplane
