#include "dataplane/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "dataplane/binding_codec.hpp"

namespace sipline::dataplane {
namespace {

// Keys per SCAN step and per pipelined HGETALL batch: large enough that a million AORs load
// in a thousand round trips, small enough that one step never blocks Redis noticeably.
constexpr std::size_t kScanBatch = 1000;
// Saves pipelined in one round trip: the replies of a round trip are buffered whole, so this
// bounds that buffer.
constexpr std::size_t kSavesPerRoundTrip = 256;

// One save, atomically (a script runs alone). KEYS[1]: the AOR's hash. ARGV: now (unix
// seconds), the change channel, the change notice, "1" to replace the hash whole, the number
// N of removed contacts, those N contacts, then contact and stored binding pairs to write.
// Then every binding expired at `now` is dropped (a stored binding starts with its expiry),
// the key expires with the latest one left, and the notice is published. A value that does
// not start with an expiry (not ours) is left alone.
constexpr std::string_view kSaveScript = R"lua(
local key, now = KEYS[1], tonumber(ARGV[1])
if ARGV[4] == '1' then redis.call('DEL', key) end
local removed = tonumber(ARGV[5])
for i = 6, 5 + removed do redis.call('HDEL', key, ARGV[i]) end
for i = 6 + removed, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
local latest = 0
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  local expires = tonumber(string.match(fields[i + 1], '^%d+'))
  if expires ~= nil and expires <= now then
    redis.call('HDEL', key, fields[i])
  elseif expires ~= nil and expires > latest then
    latest = expires
  end
end
if latest > 0 then redis.call('EXPIREAT', key, latest) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return #fields / 2
)lua";

// One SCAN step's keys, then their values: their live bindings and the next cursor ("0":
// done).
struct ScanStep {
  std::string cursor;
  std::string error;
  LoadResult loaded;
};

// The live bindings of one AOR's HGETALL reply (field, value, field, value, ...).
void take_hash(const redisReply& hash, std::string_view aor, std::int64_t now, LoadResult& into) {
  if (hash.type != REDIS_REPLY_ARRAY) return;  // gone since the SCAN
  for (std::size_t i = 1; i < hash.elements; i += 2) {
    std::optional<sip::Binding> binding = decode_stored_binding(reply_text(*hash.element[i]), aor);
    if (!binding || binding->contact != reply_text(*hash.element[i - 1])) {
      ++into.unreadable;
    } else if (binding->expires_at > now) {
      into.bindings.push_back(std::move(*binding));
    }
  }
}

// The live bindings of a key of the layout before sipline wrote hashes: the AOR's whole
// list as one string (binding_codec.hpp).
void take_legacy_list(const redisReply& list, std::string_view aor, std::int64_t now,
                      LoadResult& into) {
  if (list.type != REDIS_REPLY_STRING) return;  // gone since the SCAN
  std::optional<std::vector<sip::Binding>> bindings = decode_bindings(reply_text(list), aor);
  if (!bindings) {
    ++into.unreadable;
    return;
  }
  for (sip::Binding& binding : *bindings) {
    if (binding.expires_at > now) into.bindings.push_back(std::move(binding));
  }
}

// Where and how a layout keeps an AOR's bindings.
struct KeyLayout {
  std::string_view prefix;
  const char* type;  // SCAN's TYPE filter
  const char* read;  // the command that reads one key
  void (*take)(const redisReply&, std::string_view aor, std::int64_t now, LoadResult& into);
};

constexpr KeyLayout kHashLayout{kRedisLocationKeyPrefix, "hash", "HGETALL", take_hash};
constexpr KeyLayout kLegacyLayout{kRedisLegacyLocationKeyPrefix, "string", "GET", take_legacy_list};

// `seen`: the keys of the steps before. SCAN may return a key more than once (when the
// keyspace is resized during the scan); read twice, its bindings would be restored twice.
// `skip`: AORs not to read.
ScanStep scan_step(RedisConnection& connection, const KeyLayout& layout, const std::string& cursor,
                   std::int64_t now, std::unordered_set<std::string>& seen,
                   const std::unordered_set<std::string>& skip) {
  const std::string pattern = std::string(layout.prefix) + "*";
  RedisReplies scanned = connection.run(RedisCommand{
      "SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(kScanBatch), "TYPE", layout.type});
  if (!scanned.ok()) return {{}, scanned.error, {}};
  const redisReply& reply = *scanned.replies.front();
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 ||
      reply.element[1]->type != REDIS_REPLY_ARRAY) {
    return {{}, "SCAN: unexpected reply " + reply_error(reply), {}};
  }
  const redisReply& keys = *reply.element[1];
  ScanStep step{std::string(reply_text(*reply.element[0])), {}, {}};
  std::vector<RedisCommand> reads;
  for (std::size_t i = 0; i < keys.elements; ++i) {
    std::string key(reply_text(*keys.element[i]));
    if (skip.contains(key.substr(layout.prefix.size()))) continue;
    if (seen.insert(key).second) reads.push_back(RedisCommand{layout.read, std::move(key)});
  }
  if (reads.empty()) return step;  // every key was read in an earlier step
  RedisReplies values = connection.run(reads);
  if (!values.ok()) return {{}, values.error, {}};
  for (std::size_t i = 0; i < reads.size(); ++i) {
    const redisReply& value = *values.replies[i];
    if (value.type == REDIS_REPLY_ERROR) {
      return {{}, std::string(layout.read) + ": " + reply_error(value), {}};
    }
    layout.take(value, std::string_view(reads[i][1]).substr(layout.prefix.size()), now,
                step.loaded);
  }
  return step;
}

// Every key of one layout; the AORs read go into `aors`.
std::string load_layout(RedisConnection& connection, const KeyLayout& layout, std::int64_t now,
                        LoadResult& into, std::unordered_set<std::string>& aors) {
  std::string cursor = "0";
  std::unordered_set<std::string> seen;
  const std::unordered_set<std::string> skip = aors;
  do {
    ScanStep step = scan_step(connection, layout, cursor, now, seen, skip);
    if (!step.error.empty()) return std::move(step.error);
    std::move(step.loaded.bindings.begin(), step.loaded.bindings.end(),
              std::back_inserter(into.bindings));
    into.unreadable += step.loaded.unreadable;
    cursor = std::move(step.cursor);
  } while (cursor != "0");
  for (const std::string& key : seen)
    aors.insert(key.substr(layout.prefix.size()));
  return {};
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
  std::unordered_set<std::string> aors;
  // An AOR that has a hash is read from it alone; one that an older sipline wrote and no node
  // has changed since is read from its list (a rolling upgrade keeps its registrations).
  for (const KeyLayout* layout : {&kHashLayout, &kLegacyLayout}) {
    if (std::string error = load_layout(connection, *layout, now, result, aors); !error.empty()) {
      return LoadResult{{}, std::move(error), 0};
    }
  }
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
  if (std::string error = store->load_script(); !error.empty()) return {nullptr, error};
  return {std::move(store), {}};
}

// SCAN ... TYPE needs Redis 6.0, EXPIRETIME (which operators use to look) 7.0; 6.2 is what
// earlier versions of sipline asked for, and Debian 12 ships 7.0. Refused at start rather than
// by every load.
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
           " is too old: the location store needs 6.2 or later";
  }
  return {};
}

namespace {

// A field of INFO's "name:value" lines, or "".
std::string_view info_field(std::string_view text, std::string_view name) {
  for (std::size_t at = text.find(name); at != std::string_view::npos;
       at = text.find(name, at + 1)) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const std::size_t value = at + name.size();
    if (!line_start || value >= text.size() || text[value] != ':') continue;
    const std::size_t end = text.find_first_of("\r\n", value + 1);
    return text.substr(value + 1, end == std::string_view::npos ? end : end - value - 1);
  }
  return {};
}

}  // namespace

std::string redis_run_id(RedisConnection& connection) {
  const RedisReplies info = connection.run(RedisCommand{"INFO", "server"});
  if (!info.ok()) return {};
  return std::string(info_field(reply_text(*info.replies.front()), "run_id"));
}

std::string RedisStore::describe() const {
  return connection_.endpoint().describe();
}

LoadResult RedisStore::load_all(std::int64_t now) {
  return load_redis_bindings(connection_, now);
}

std::string RedisStore::load_script() {
  const RedisReplies loaded =
      connection_.run(RedisCommand{"SCRIPT", "LOAD", std::string(kSaveScript)});
  if (!loaded.ok()) return loaded.error;
  const redisReply& reply = *loaded.replies.front();
  if (reply.type != REDIS_REPLY_STRING) {
    return "redis " + describe() + ": SCRIPT LOAD: " + reply_error(reply);
  }
  script_sha_ = std::string(reply_text(reply));
  return {};
}

RedisCommand RedisStore::save_command(const AorSave& save, std::int64_t now) const {
  ChangeNotice notice{node_, save.aor, !save.change.has_value(), {}, save.retried};
  if (save.change) {
    notice.delta = *save.change;
  } else {
    notice.delta.upserts = save.bindings;
  }
  RedisCommand command{"EVALSHA",
                       script_sha_,
                       "1",
                       redis_location_key(save.aor),
                       std::to_string(now),
                       channel_,
                       encode_change_notice(notice),
                       notice.whole ? "1" : "0",
                       std::to_string(notice.delta.removed.size())};
  command.reserve(command.size() + notice.delta.removed.size() + 2 * notice.delta.upserts.size());
  for (const std::string& contact : notice.delta.removed)
    command.push_back(contact);
  for (const sip::Binding& binding : notice.delta.upserts) {
    command.push_back(binding.contact);
    command.push_back(encode_stored_binding(binding));
  }
  return command;
}

StoreResult RedisStore::save_result(const redisReply& reply, std::string_view aor,
                                    std::size_t rows) const {
  // A read-only server (a replica) or a script error answers an error.
  const std::string why = reply_error(reply);
  if (why.empty()) return {{}, rows};
  return {"redis " + describe() + ": saving \"" + std::string(aor) + "\": " + why, 0};
}

StoreResult RedisStore::save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) {
  const AorSave save{std::string(aor), bindings, std::nullopt};
  return save_aors(std::span(&save, 1)).front();
}

std::vector<StoreResult> RedisStore::save_chunk(std::span<const AorSave> saves, std::int64_t now) {
  std::vector<StoreResult> results(saves.size());
  std::vector<std::size_t> sending(saves.size());
  for (std::size_t i = 0; i < saves.size(); ++i)
    sending[i] = i;
  for (int attempt = 0; attempt < 2 && !sending.empty(); ++attempt) {
    std::vector<RedisCommand> batch;
    batch.reserve(sending.size());
    for (const std::size_t i : sending)
      batch.push_back(save_command(saves[i], now));
    const RedisReplies replies = connection_.run(batch);
    std::vector<std::size_t> script_lost;
    for (std::size_t n = 0; n < sending.size(); ++n) {
      const std::size_t i = sending[n];
      if (!replies.ok()) {
        results[i] = {replies.error, 0};
        continue;
      }
      const redisReply& reply = *replies.replies[n];
      // A Redis restarted since the script was loaded did not run this save: load the
      // script and send it again, once.
      if (reply_error(reply).starts_with("NOSCRIPT")) script_lost.push_back(i);
      const std::size_t rows =
          saves[i].change ? saves[i].change->upserts.size() : saves[i].bindings.size();
      results[i] = save_result(reply, saves[i].aor, rows);
    }
    sending = std::move(script_lost);
    if (sending.empty() || attempt == 1) break;
    if (std::string error = load_script(); !error.empty()) {
      for (const std::size_t i : sending)
        results[i].error = error;
      break;
    }
  }
  return results;
}

std::vector<StoreResult> RedisStore::save_aors(std::span<const AorSave> saves) {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  std::vector<StoreResult> results;
  results.reserve(saves.size());
  for (std::size_t first = 0; first < saves.size(); first += kSavesPerRoundTrip) {
    const auto chunk = saves.subspan(first, std::min(kSavesPerRoundTrip, saves.size() - first));
    std::vector<StoreResult> chunk_results = save_chunk(chunk, now);
    std::move(chunk_results.begin(), chunk_results.end(), std::back_inserter(results));
  }
  return results;
}

}  // namespace sipline::dataplane
