// The location store in Redis (DESIGN.md §6): several sipline nodes behind DNS SRV or an
// anycast address share their registrations through a Redis that carriers already run, and a
// restart of one node loses nothing.
//
// Layout (one database, chosen by the URL's /DB):
// - one hash per address-of-record, "sipline:bindings:AOR": one field per binding, named by
//   its contact URI, whose value is the binding (binding_codec.hpp: its expiry first). The key
//   expires with the AOR's latest binding (EXPIREAT); a binding that expires earlier stays
//   until the AOR is next written (the save script drops it then) and is skipped by every
//   reader (each node's location table expires it on its own clock; nodes keep time by NTP).
// - after each save, a change notice on the channel "sipline:location:changes:DB" (channels
//   span databases, so the name carries the DB). Other nodes' LocationSync applies it to their
//   table; the notice carries the change, so no second read is needed.
//
// A save writes a change, not the AOR's list: the bindings this node added or changed and the
// contacts it removed (binding_delta.hpp). One Lua script (kSaveScript) applies it, drops the
// AOR's expired bindings, sets the key's expiry and publishes the notice: atomic, so the hash
// and the notices never disagree. Two nodes changing one AOR at once (two phones of one user
// registering through different nodes) change different fields, and Redis and every node's
// table end with both bindings, in whichever order the writes land. A save without a change
// (AorSave::change empty: save_aor, an operator's unregister) replaces the hash whole.
// purge_expired() has nothing to do: Redis expires keys, and saves drop expired fields.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/redis_connection.hpp"

namespace sipline::dataplane {

inline constexpr std::string_view kRedisLocationKeyPrefix = "sipline:bindings:";
// Where sipline kept an AOR's whole list (one string) before it wrote hashes: read at load
// for AORs without a hash, never written.
inline constexpr std::string_view kRedisLegacyLocationKeyPrefix = "sipline:location:";

std::string redis_location_key(std::string_view aor);
std::string redis_change_channel(const config::RedisEndpoint& endpoint);

// Every live binding of the database (SCAN over the key prefix, HGETALL pipelined per batch;
// then the older layout's lists of AORs that have no hash): load_all and LocationSync's
// resynchronisation after a lost connection share it.
LoadResult load_redis_bindings(RedisConnection& connection, std::int64_t now);

// The server's run_id (INFO server): a new one after every restart, so two equal ones mean
// the dataset was not lost or replaced between them. Empty when it cannot be read.
std::string redis_run_id(RedisConnection& connection);

class RedisStore final : public LocationStore {
 public:
  // Connects once, so an unreachable Redis or a wrong password stops the start with a clear
  // line. `node` marks this process's change notices (LocationSync ignores its own).
  static OpenedStore open(const config::RedisEndpoint& endpoint, std::uint64_t node);

  LoadResult load_all(std::int64_t now) override;
  StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) override;
  // Pipelined: up to 256 saves per round trip, each one run of the save script; a save with a
  // change writes the change.
  std::vector<StoreResult> save_aors(std::span<const AorSave> saves) override;
  bool saves_changes() const override { return true; }
  StoreResult purge_expired(std::int64_t) override { return {}; }
  StoreResult flush() override { return {}; }
  std::string describe() const override;

 private:
  RedisStore(const config::RedisEndpoint& endpoint, std::uint64_t node);
  std::string check_version();  // "" or why this Redis cannot be used
  std::string load_script();    // SCRIPT LOAD: "" or why not
  // EVALSHA of the save script for one save, at `now` (unix seconds).
  RedisCommand save_command(const AorSave& save, std::int64_t now) const;
  StoreResult save_result(const redisReply& reply, std::string_view aor, std::size_t rows) const;
  // One round trip of saves; the script loaded again once when Redis lost it (a restart).
  std::vector<StoreResult> save_chunk(std::span<const AorSave> saves, std::int64_t now);

  RedisConnection connection_;
  std::uint64_t node_;
  std::string channel_;
  std::string script_sha_;  // of kSaveScript, as SCRIPT LOAD named it
};

}  // namespace sipline::dataplane
