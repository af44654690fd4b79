// The location store in Redis (DESIGN.md §6): several sipline nodes behind DNS SRV or an
// anycast address share their registrations through a Redis that carriers already run, and a
// restart of one node loses nothing.
//
// Layout (one database, chosen by the URL's /DB):
// - one key per address-of-record, "sipline:location:AOR", whose value is the AOR's whole
//   binding list (binding_codec.hpp), set with EXAT at its latest binding's expiry. Redis
//   removes the key when the last binding expires; a binding that expires earlier stays in
//   the value until the AOR is next saved and is skipped by every reader (each node's
//   location table expires it on its own clock; nodes keep time by NTP).
// - after each save, a change notice on the channel "sipline:location:changes:DB" (channels
//   span databases, so the name carries the DB). Other nodes' LocationSync applies it to their
//   table; the notice carries the list, so no second read is needed.
//
// A save is one MULTI/EXEC (SET or DEL, then PUBLISH): the key and the notice never disagree.
// Two nodes saving one AOR at once: Redis keeps the later save whole; the nodes' tables may
// disagree with it until the AOR's next change (dataplane/README.md lists what is not
// guaranteed). purge_expired() has nothing to do: Redis expires keys.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "dataplane/location_store.hpp"
#include "dataplane/redis_connection.hpp"

namespace sipline::dataplane {

inline constexpr std::string_view kRedisLocationKeyPrefix = "sipline:location:";

std::string redis_location_key(std::string_view aor);
std::string redis_change_channel(const config::RedisEndpoint& endpoint);

// Every live binding of the database (SCAN over the key prefix, MGET per batch): load_all
// and LocationSync's resynchronisation after a lost connection share it.
LoadResult load_redis_bindings(RedisConnection& connection, std::int64_t now);

class RedisStore final : public LocationStore {
 public:
  // Connects once, so an unreachable Redis or a wrong password stops the start with a clear
  // line. `node` marks this process's change notices (LocationSync ignores its own).
  static OpenedStore open(const config::RedisEndpoint& endpoint, std::uint64_t node);

  LoadResult load_all(std::int64_t now) override;
  StoreResult save_aor(std::string_view aor, const std::vector<sip::Binding>& bindings) override;
  // Pipelined: up to 256 saves per round trip, each still its own MULTI/EXEC.
  std::vector<StoreResult> save_aors(std::span<const AorSave> saves) override;
  StoreResult purge_expired(std::int64_t) override { return {}; }
  StoreResult flush() override { return {}; }
  std::string describe() const override;

 private:
  RedisStore(const config::RedisEndpoint& endpoint, std::uint64_t node);
  std::string check_version();  // "" or why this Redis cannot be used
  // MULTI, SET (or DEL), PUBLISH, EXEC.
  std::array<RedisCommand, 4> save_commands(std::string_view aor,
                                            const std::vector<sip::Binding>& bindings) const;
  StoreResult save_result(std::span<const RedisReply> replies, std::string_view aor,
                          std::size_t rows) const;

  RedisConnection connection_;
  std::uint64_t node_;
  std::string channel_;
};

}  // namespace sipline::dataplane
