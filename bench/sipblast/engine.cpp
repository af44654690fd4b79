#include "bench/sipblast/engine.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <random>
#include <type_traits>

#include "bench/sipblast/templates.hpp"
#include "sip/digest_auth.hpp"
#include "sip/digest_client.hpp"
#include "sip/message.hpp"
#include "sip/params.hpp"
#include "sip/token_list.hpp"

namespace sipline::sipblast {

using sip::Challenge;
using sip::ChallengeError;
using sip::CredentialsInput;
using sip::PickedChallenge;

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

namespace {

// RFC 3261 §17.1.1.1 and §17.1.2.2: T1 = 500 ms, T2 = 4 s. INVITE retransmissions double
// from T1 (Timer A), non-INVITE ones double up to T2 (Timer E). One FIFO per interval
// T1 * 2^k: entries enter a FIFO in time order with the same delay, so each FIFO is sorted by
// due time and needs no heap. INVITE intervals stop doubling at 16 s (stage 5): with the
// default Timer B of 32 s the RFC never gets further.
constexpr std::int64_t kT1Ns = 500'000'000;
constexpr int kRetransmitStages = 6;
constexpr int kNonInviteLastStage = 3;  // T1 * 2^3 = T2
constexpr std::size_t kSendSlotSize = 8192;
constexpr std::size_t kRecvSlotSize = 65536;
constexpr std::size_t kMaxTagLength = 46;
constexpr std::size_t kMaxDialogTargets = 255;
constexpr std::size_t kMaxTableSize = std::size_t{1} << 21;
constexpr std::size_t kMaxFifoSize = std::size_t{1} << 22;
constexpr int kDirectReceiveSockets = 8;  // more sockets than this: ask epoll which are ready

std::int64_t retransmit_interval(TxKind kind, int stage) {
  const int capped = kind == TxKind::Invite ? std::min(stage, kRetransmitStages - 1)
                                            : std::min(stage, kNonInviteLastStage);
  return kT1Ns << capped;
}

int retransmit_fifo(TxKind kind, int stage) {
  return kind == TxKind::Invite ? std::min(stage, kRetransmitStages - 1)
                                : std::min(stage, kNonInviteLastStage);
}

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

SocketAddress make_address(const Endpoint& endpoint) {
  SocketAddress address;
  if (endpoint.ipv6()) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(endpoint.port);
    inet_pton(AF_INET6, endpoint.address.c_str(), &v6->sin6_addr);
    address.length = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(endpoint.port);
    inet_pton(AF_INET, endpoint.address.c_str(), &v4->sin_addr);
    address.length = sizeof(sockaddr_in);
  }
  return address;
}

std::uint16_t port_of(const sockaddr_storage& storage) {
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

// Socket buffers big enough to ride out a scheduling stall of the process (a shared
// machine, a compile next door) without dropping: above net.core.rmem_max when we may
// (SO_RCVBUFFORCE needs CAP_NET_ADMIN), else as much as the sysctl allows.
void set_buffers(int fd, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
}

// A fixed array from calloc: large tables sized for the worst case (every call lost until its
// timeout) cost address space only, and pages are touched when used. The element types are
// aggregates whose all-zero state is their initial state.
template <class T>
class ZeroedArray {
 public:
  void allocate(std::size_t size) {
    static_assert(std::is_trivially_destructible_v<T>);
    data_.reset(static_cast<T*>(std::calloc(size, sizeof(T))));
    if (data_ == nullptr) throw std::bad_alloc();
    size_ = size;
  }
  // Touches every page now, so that the first use of a slot during the run is not a page
  // fault (or a huge-page allocation with compaction, which can stall for milliseconds).
  void prefault() {
    auto* bytes = reinterpret_cast<volatile unsigned char*>(data_.get());
    for (std::size_t offset = 0; offset < size_ * sizeof(T); offset += 4096)
      bytes[offset] = 0;
  }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(T* pointer) const { std::free(pointer); }
  };
  std::unique_ptr<T[], Free> data_;
  std::size_t size_ = 0;
};

// A bounded FIFO of timers with one fixed delay.
struct TimerEntry {
  std::uint64_t sequence;
  std::int64_t due_ns;
  TxKind kind;
  std::uint8_t stage;
};

class TimerFifo {
 public:
  void init(std::size_t capacity, std::int64_t delay_ns, bool prefault) {
    entries_.allocate(round_up(capacity));
    if (prefault) entries_.prefault();
    mask_ = entries_.size() - 1;
    delay_ns_ = delay_ns;
  }
  bool push(std::uint64_t sequence, std::int64_t now, TxKind kind, std::uint8_t stage) {
    if (tail_ - head_ == entries_.size()) return false;
    entries_[tail_++ & mask_] = {sequence, now + delay_ns_, kind, stage};
    return true;
  }
  const TimerEntry* due(std::int64_t now) const {
    if (head_ == tail_) return nullptr;
    const TimerEntry& front = entries_[head_ & mask_];
    return front.due_ns <= now ? &front : nullptr;
  }
  std::int64_t next_due() const {
    return head_ == tail_ ? INT64_MAX : entries_[head_ & mask_].due_ns;
  }
  void pop() { ++head_; }
  bool empty() const { return head_ == tail_; }

 private:
  static std::size_t round_up(std::size_t n) {
    return std::bit_ceil(std::clamp<std::size_t>(n, 256, kMaxFifoSize));
  }
  ZeroedArray<TimerEntry> entries_;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
  std::int64_t delay_ns_ = 0;
};

enum class SlotState : std::uint8_t {
  Free,
  Calling,         // INVITE sent, nothing back yet (Timer A running)
  Proceeding,      // INVITE got a provisional response
  Holding,         // ACK sent, waiting --hold-ms before BYE
  ByeSent,         // BYE transaction open
  Pending,         // OPTIONS transaction open
  AwaitChallenge,  // first REGISTER open
  AwaitFinal,      // REGISTER with credentials open
};

// One call or transaction in flight. Its index in the table is its sequence modulo the
// table size; the sequence also sits in the Call-ID and the branch.
struct Slot {
  std::uint64_t sequence = 0;
  std::int64_t started_ns = 0;     // first request of the call (latency origin)
  std::int64_t tx_started_ns = 0;  // first transmission of the open transaction
  std::uint32_t user = 0;          // register: index into the user list
  std::uint32_t cseq = 0;          // register: CSeq of the open REGISTER
  std::uint16_t socket = 0;
  SlotState state = SlotState::Free;
  std::uint8_t stage = 0;   // retransmissions of the open transaction so far
  std::uint8_t dialog = 0;  // index into the worker's dialog targets
  std::uint8_t tag_size = 0;
  std::array<char, kMaxTagLength> tag{};  // remote To tag
  std::string_view remote_tag() const { return {tag.data(), tag_size}; }
};

// Which state an open transaction of this kind is in while it waits for responses.
bool awaiting(SlotState state, TxKind kind, bool for_timeout) {
  switch (kind) {
    case TxKind::Invite:
      return state == SlotState::Calling || (for_timeout && state == SlotState::Proceeding);
    case TxKind::Bye:
      return state == SlotState::ByeSent;
    case TxKind::Options:
      return state == SlotState::Pending;
    case TxKind::Register:
      return state == SlotState::AwaitChallenge;
    case TxKind::RegisterAuth:
      return state == SlotState::AwaitFinal;
    case TxKind::Ack:
      return false;
  }
  return false;
}

struct DialogTarget {
  std::string remote_target;
  std::string route_lines;
};

struct WorkerSocket {
  int fd = -1;
  bool uas = false;
  std::unique_ptr<ClientTemplates> templates;  // client sockets
};

// Datagrams produced during one loop iteration, sent with one sendmmsg per run of the same
// socket.
class SendQueue {
 public:
  explicit SendQueue(int batch)
      : capacity_(static_cast<std::size_t>(batch)),
        buffers_(capacity_ * kSendSlotSize),
        messages_(capacity_),
        iovecs_(capacity_),
        addresses_(capacity_),
        fds_(capacity_) {}

  bool full() const { return size_ == capacity_; }
  bool empty() const { return size_ == 0; }
  std::span<char> buffer() { return {buffers_.data() + size_ * kSendSlotSize, kSendSlotSize}; }
  void commit(std::size_t length, int fd, const sockaddr_storage* to, socklen_t to_length) {
    iovecs_[size_] = {buffers_.data() + size_ * kSendSlotSize, length};
    mmsghdr& message = messages_[size_];
    message = mmsghdr{};
    message.msg_hdr.msg_iov = &iovecs_[size_];
    message.msg_hdr.msg_iovlen = 1;
    if (to != nullptr) {
      std::memcpy(&addresses_[size_], to, to_length);
      message.msg_hdr.msg_name = &addresses_[size_];
      message.msg_hdr.msg_namelen = to_length;
    }
    fds_[size_] = fd;
    ++size_;
  }

  struct Result {
    std::uint64_t sent = 0;
    std::uint64_t bytes = 0;
    std::uint64_t failed = 0;
    std::uint64_t calls = 0;
  };
  Result flush() {
    Result result;
    std::size_t begin = 0;
    while (begin < size_) {
      std::size_t end = begin + 1;
      while (end < size_ && fds_[end] == fds_[begin])
        ++end;
      std::size_t next = begin;
      while (next < end) {
        const int sent = sendmmsg(fds_[begin], &messages_[next], static_cast<unsigned>(end - next),
                                  MSG_DONTWAIT);
        ++result.calls;
        if (sent <= 0) {
          if (sent < 0 && errno == EINTR) continue;
          // The datagram is lost like any on UDP: retransmission timers deal with it.
          ++result.failed;
          ++next;
          continue;
        }
        for (int i = 0; i < sent; ++i)
          result.bytes += messages_[next + i].msg_len;
        result.sent += static_cast<std::uint64_t>(sent);
        next += static_cast<std::size_t>(sent);
      }
      begin = end;
    }
    size_ = 0;
    return result;
  }

 private:
  std::size_t capacity_;
  std::size_t size_ = 0;
  std::vector<char> buffers_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_storage> addresses_;
  std::vector<int> fds_;
};

class ReceiveBatch {
 public:
  explicit ReceiveBatch(int batch)
      : capacity_(static_cast<std::size_t>(batch)),
        buffers_(capacity_ * kRecvSlotSize),
        messages_(capacity_),
        iovecs_(capacity_),
        addresses_(capacity_) {}

  // Datagrams read from fd (0 when none was waiting).
  int receive(int fd) {
    for (std::size_t i = 0; i < capacity_; ++i) {
      iovecs_[i] = {buffers_.data() + i * kRecvSlotSize, kRecvSlotSize};
      messages_[i] = mmsghdr{};
      messages_[i].msg_hdr.msg_iov = &iovecs_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
      messages_[i].msg_hdr.msg_name = &addresses_[i];
      messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    const int count =
        recvmmsg(fd, messages_.data(), static_cast<unsigned>(capacity_), MSG_DONTWAIT, nullptr);
    return count < 0 ? 0 : count;
  }
  std::string_view datagram(int i) const {
    return {buffers_.data() + static_cast<std::size_t>(i) * kRecvSlotSize,
            messages_[static_cast<std::size_t>(i)].msg_len};
  }
  bool truncated(int i) const {
    return (messages_[static_cast<std::size_t>(i)].msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  const sockaddr_storage& source(int i) const { return addresses_[static_cast<std::size_t>(i)]; }
  socklen_t source_length(int i) const {
    return messages_[static_cast<std::size_t>(i)].msg_hdr.msg_namelen;
  }

 private:
  std::size_t capacity_;
  std::vector<char> buffers_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_storage> addresses_;
};

std::string random_run_id() {
  std::random_device device;
  char text[9];
  std::snprintf(text, sizeof text, "%08x", device());
  return text;
}

}  // namespace

// --------------------------------------------------------------------------------------------

struct SharedState {
  std::atomic<bool>* stop;
  std::atomic<int>* generating;
  std::atomic<std::int64_t>* last_traffic_ns;
  sip::NonceSecret nonce_secret;  // --uas-auth: one per run, so every worker's nonces validate
};

namespace {

// --uas-auth: every user has the same password.
class SamePassword final : public sip::UserDirectory {
 public:
  explicit SamePassword(std::string_view password) : password_(password) {}
  std::optional<sip::UserSecret> find(std::string_view) const override {
    return sip::UserSecret{password_};
  }

 private:
  std::string_view password_;
};

}  // namespace

class Worker {
 public:
  Worker(const Options& options, int index, std::string instance, SharedState shared)
      : options_(options),
        instance_(std::move(instance)),
        shared_(shared),
        send_queue_(options.batch),
        receive_batch_(options.batch),
        message_(std::make_unique<sip::Message>()),
        responder_(ServerIdentity{"sip:" + options.uas_user + "@" + options.uas_listen.text(),
                                  options.uas_listen.address}),
        password_directory_(options.register_password) {
    if (!options.uas_auth_algorithms.empty()) {
      for (const std::string& name : options.uas_auth_algorithms) {
        auth_algorithms_.push_back(sip::digest_algorithm_from_text(name));
      }
      sip::DigestAuthSettings settings;
      settings.realm = "sipblast";
      settings.algorithms = auth_algorithms_;
      settings.secret = shared.nonce_secret;
      settings.issuer = static_cast<std::uint16_t>(index + 1);
      authenticator_ = std::make_unique<sip::DigestAuthenticator>(settings);
    }
  }

  ~Worker() {
    for (WorkerSocket& socket : sockets_) {
      if (socket.fd >= 0) close(socket.fd);
    }
    if (epoll_fd_ >= 0) close(epoll_fd_);
  }

  std::string open_client_socket(int global_index);
  std::string open_uas_socket();
  void plan(double rate, std::uint64_t limit, std::vector<std::uint32_t> users);
  std::string finish_setup();
  void run(std::int64_t t0);
  bool generates() const { return phase_ == ClientPhase::Generating; }

  const Counters& counters() const { return counters_; }
  const LatencySet& latency() const { return *latency_; }
  std::int64_t generation_end_ns() const { return generation_end_ns_; }
  std::int64_t exit_ns() const { return exit_ns_; }

 private:
  // generation
  bool start_due(std::int64_t now);
  void start_one(std::int64_t now);
  std::uint16_t pick_socket(std::uint64_t sequence) const;
  // client side
  void on_response(std::int64_t now);
  void on_invite_response(Slot& slot, std::int64_t now);
  void on_bye_response(Slot& slot, std::int64_t now);
  void on_options_response(Slot& slot, std::int64_t now);
  void on_register_response(Slot& slot, TxKind kind, std::int64_t now);
  void send_request(Slot& slot, TxKind kind);
  void open_transaction(Slot& slot, TxKind kind, std::int64_t now);
  void finish(Slot& slot, Stat outcome);
  void fail(Slot& slot, Stat reason);
  bool remember_dialog(Slot& slot);
  std::uint8_t intern_dialog(std::string_view target, std::string_view routes);
  // server side
  void on_request(int fd, const sockaddr_storage& from, socklen_t length);
  void respond(int fd, const sockaddr_storage& to, socklen_t length, ResponseKind kind,
               std::string_view extra_lines = {});
  void answer_register(int fd, const sockaddr_storage& from, socklen_t length);
  // timers
  bool run_timers(std::int64_t now);
  void on_retransmit(const TimerEntry& entry, std::int64_t now);
  void on_timeout(const TimerEntry& entry);
  std::int64_t next_deadline(std::int64_t now) const;
  // I/O
  bool receive(std::int64_t now);
  bool receive_from(std::size_t socket_index);
  template <class Render>
  void send(int fd, const sockaddr_storage* to, socklen_t to_length, Render&& render);
  void flush();
  void wait_until(std::int64_t deadline, std::int64_t now);
  void pause_until(std::int64_t deadline);
  bool done(std::int64_t now);

  Slot& slot_of(std::uint64_t sequence) { return slots_[sequence & slot_mask_]; }
  bool registering() const { return options_.role == Role::Register; }

  const Options& options_;
  std::string instance_;
  SharedState shared_;

  std::vector<WorkerSocket> sockets_;
  std::vector<std::uint16_t> client_sockets_;  // indices into sockets_
  int epoll_fd_ = -1;
  SocketAddress target_;
  bool connected_ = false;

  SendQueue send_queue_;
  ReceiveBatch receive_batch_;
  std::unique_ptr<sip::Message> message_;
  UasResponder responder_;
  SamePassword password_directory_;
  std::vector<sip::DigestAlgorithm> auth_algorithms_;
  std::unique_ptr<sip::DigestAuthenticator> authenticator_;  // --uas-auth
  std::array<char, 2048> challenge_lines_{};

  // generation plan
  double rate_per_ns_ = 0;
  std::uint64_t limit_ = 0;
  std::uint64_t started_ = 0;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t active_ = 0;
  std::int64_t t0_ = 0;
  std::int64_t generation_deadline_ns_ = 0;
  std::int64_t generation_end_ns_ = 0;  // when generation actually stopped (0: not yet)
  std::int64_t drain_deadline_ns_ = 0;
  std::int64_t exit_ns_ = 0;
  enum class ClientPhase : std::uint8_t { None, Generating, Draining, Finished };
  ClientPhase phase_ = ClientPhase::None;
  bool has_uas_ = false;

  ZeroedArray<Slot> slots_;  // SlotState::Free is 0
  std::size_t slot_mask_ = 0;
  ZeroedArray<Challenge> challenges_;  // register: per slot
  std::array<TimerFifo, kRetransmitStages> retransmit_;
  TimerFifo timeouts_;
  TimerFifo holds_;
  std::vector<DialogTarget> dialogs_;
  std::size_t last_dialog_ = 0;
  std::string route_scratch_;
  std::vector<std::string_view> route_elements_;

  std::vector<std::uint32_t> users_;      // register: indices into options_.users
  std::vector<std::uint32_t> user_cseq_;  // per entry of users_
  std::uint64_t next_user_ = 0;
  std::array<char, 1024> authorization_{};  // scratch for the Authorization line

  Counters counters_;
  std::unique_ptr<LatencySet> latency_ = std::make_unique<LatencySet>();

  // RFC 7339 client state (--oc): the server's last feedback and until when it holds.
  void read_oc_feedback(std::int64_t now);
  bool throttled_by_oc(std::int64_t now);
  std::uint32_t oc_reduction_ = 0;  // percent of new calls not to send
  std::int64_t oc_valid_until_ns_ = 0;
  std::uint64_t oc_seq_milli_ = 0;                   // oc-seq of that feedback, in milliseconds
  std::uint64_t oc_random_ = 0x9e3779b97f4a7c15ULL;  // xorshift state for the loss draw
};

std::string Worker::open_client_socket(int global_index) {
  const Endpoint& target = *options_.target;
  const int family = target.ipv6() ? AF_INET6 : AF_INET;
  if (options_.local.ipv6() != target.ipv6()) {
    return "--local and --target must be the same address family";
  }
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  WorkerSocket socket_entry;
  socket_entry.fd = fd;
  sockets_.push_back(std::move(socket_entry));
  set_buffers(fd, options_.socket_buffer_bytes);
  Endpoint local = options_.local;
  if (local.port != 0) local.port = static_cast<std::uint16_t>(local.port + global_index);
  const SocketAddress bind_address = make_address(local);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_address.storage), bind_address.length) !=
      0) {
    return "bind " + local.text() + ": " + std::strerror(errno);
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  target_ = make_address(target);
  if (options_.connect) {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target_.storage), target_.length) != 0) {
      return "connect " + target.text() + ": " + std::strerror(errno);
    }
    connected_ = true;
  }
  ClientIdentity identity;
  identity.instance = instance_;
  identity.local_address = options_.local.address;
  identity.local_port = port_of(bound);
  identity.from_user = options_.from_user;
  identity.request_uri = "sip:" + options_.ruri_user + "@" + options_.ruri_host;
  identity.register_domain = options_.register_domain;
  identity.register_expires = options_.register_expires;
  identity.overload_control = options_.overload_control;
  sockets_.back().templates = std::make_unique<ClientTemplates>(identity);
  client_sockets_.push_back(static_cast<std::uint16_t>(sockets_.size() - 1));
  return {};
}

std::string Worker::open_uas_socket() {
  const Endpoint& listen = options_.uas_listen;
  const int fd =
      socket(listen.ipv6() ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  WorkerSocket socket_entry;
  socket_entry.fd = fd;
  socket_entry.uas = true;
  sockets_.push_back(std::move(socket_entry));
  has_uas_ = true;
  const int one = 1;
  // One socket per worker on the same port; the kernel spreads peers by 5-tuple hash.
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  set_buffers(fd, options_.socket_buffer_bytes);
  const SocketAddress address = make_address(listen);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    return "bind " + listen.text() + ": " + std::strerror(errno);
  }
  return {};
}

void Worker::plan(double rate, std::uint64_t limit, std::vector<std::uint32_t> users) {
  rate_per_ns_ = rate / 1e9;
  limit_ = limit;
  users_ = std::move(users);
  user_cseq_.assign(users_.size(), 0);
  if (limit_ == 0 || client_sockets_.empty()) return;
  phase_ = ClientPhase::Generating;

  // Every slot lives from its first request to the end of its last transaction: at most two
  // timeouts and the hold time. A table that holds that many starts never reuses a busy slot.
  const double timeout_s = options_.timeout_ms / 1000.0;
  const double lifetime_s = 2 * timeout_s + options_.hold_ms / 1000.0 + 1.0;
  const double needed = std::min(rate * lifetime_s, static_cast<double>(limit_)) + 1024;
  const std::size_t table =
      std::bit_ceil(std::min<std::size_t>(static_cast<std::size_t>(needed), kMaxTableSize));
  slots_.allocate(table);
  slots_.prefault();
  slot_mask_ = table - 1;
  if (registering()) {
    challenges_.allocate(table);
    challenges_.prefault();
  }
  // Two transactions per call (INVITE + BYE, or REGISTER twice) enter each FIFO at most; a
  // FIFO holds what entered it during one delay. Twice that leaves room for catch-up bursts.
  for (int stage = 0; stage < kRetransmitStages; ++stage) {
    const double delay_s = static_cast<double>(kT1Ns << stage) / 1e9;
    retransmit_[static_cast<std::size_t>(stage)].init(
        static_cast<std::size_t>(4 * rate * std::min(delay_s, timeout_s) + 64), kT1Ns << stage,
        stage == 0);  // every transaction passes stage 0; later ones only under loss
  }
  timeouts_.init(static_cast<std::size_t>(4 * rate * timeout_s + 64),
                 std::int64_t{options_.timeout_ms} * 1'000'000, true);
  holds_.init(static_cast<std::size_t>(2 * rate * options_.hold_ms / 1000.0 + 64),
              std::int64_t{options_.hold_ms} * 1'000'000, options_.hold_ms > 0);
  dialogs_.reserve(kMaxDialogTargets);
  route_scratch_.reserve(4096);
  route_elements_.reserve(64);
}

std::string Worker::finish_setup() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return std::string("epoll_create1: ") + std::strerror(errno);
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sockets_[i].fd, &event) != 0) {
      return std::string("epoll_ctl: ") + std::strerror(errno);
    }
  }
  return {};
}

// --- the loop ----------------------------------------------------------------------------------

void Worker::run(std::int64_t t0) {
  t0_ = t0;
  generation_deadline_ns_ = t0 + static_cast<std::int64_t>(options_.duration_s * 1e9);
  // --coalesce-us: after a busy round, wait before the next one without listening to the
  // sockets, so datagrams queue up and the next recvmmsg/sendmmsg carry many: fewer system
  // calls per message, and no wake-up for the peer to pay (nobody sleeps on our sockets).
  const std::int64_t coalesce_ns = std::int64_t{options_.coalesce_us} * 1000;
  if (coalesce_ns > 0) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);  // 1 us, not the 50 us default
  const std::int64_t spin_ns =
      options_.busy_poll ? INT64_MAX : std::int64_t{options_.spin_us} * 1000;
  std::int64_t last_busy = t0;
  for (;;) {
    const std::int64_t now = monotonic_ns();
    if (shared_.stop->load(std::memory_order_relaxed)) break;
    bool busy = false;
    if (phase_ == ClientPhase::Generating) busy |= start_due(now);
    busy |= run_timers(now);
    busy |= receive(now);
    flush();
    if (done(now)) break;
    if (busy) {
      last_busy = now;
      if (coalesce_ns > 0) pause_until(now + coalesce_ns);
    } else if (now - last_busy >= spin_ns) {
      wait_until(next_deadline(now), now);
    }
  }
  flush();
  if (active_ > 0) {  // stopped by a signal with calls still open: they did not complete
    counters_.add(Stat::Abandoned, active_);
    counters_.add(Stat::Failed, active_);
    active_ = 0;
  }
  if (phase_ == ClientPhase::Generating || phase_ == ClientPhase::Draining) {
    if (generation_end_ns_ == 0) generation_end_ns_ = monotonic_ns();
    shared_.generating->fetch_sub(1, std::memory_order_acq_rel);  // stopped by a signal
  }
  exit_ns_ = monotonic_ns();
}

bool Worker::done(std::int64_t now) {
  if (phase_ == ClientPhase::Generating) {
    if (started_ < limit_ && now < generation_deadline_ns_) return false;
    phase_ = ClientPhase::Draining;
    generation_end_ns_ = now;
    drain_deadline_ns_ = now + 2 * std::int64_t{options_.timeout_ms} * 1'000'000 +
                         std::int64_t{options_.hold_ms} * 1'000'000 + 1'000'000'000;
  }
  if (phase_ == ClientPhase::Draining) {
    if (active_ > 0 && now < drain_deadline_ns_) return false;
    if (active_ > 0) {
      // Bounded always: whatever is still open now will not be waited for.
      counters_.add(Stat::Abandoned, active_);
      counters_.add(Stat::Failed, active_);
      active_ = 0;
    }
    phase_ = ClientPhase::Finished;
    shared_.generating->fetch_sub(1, std::memory_order_acq_rel);
  }
  if (!has_uas_) return true;
  if (options_.role == Role::Both) {
    // Peers may still send to our UAS socket (SO_REUSEPORT spreads them): stay until every
    // worker has finished its calls.
    return shared_.generating->load(std::memory_order_acquire) == 0;
  }
  // UAS only: the duration bounds it; --idle-exit ends it earlier once traffic stopped.
  if (now >= generation_deadline_ns_) return true;
  if (options_.idle_exit_s > 0) {
    const std::int64_t last = shared_.last_traffic_ns->load(std::memory_order_relaxed);
    if (last != 0 && now - last > static_cast<std::int64_t>(options_.idle_exit_s * 1e9)) {
      return true;
    }
  }
  return false;
}

// --- generation --------------------------------------------------------------------------------

bool Worker::start_due(std::int64_t now) {
  // Open loop: call k (from 0) is due at t0 + k / rate, whatever happened to the calls
  // before it, as long as that is before the end of the duration.
  const std::int64_t elapsed = std::min(now, generation_deadline_ns_ - 1) - t0_;
  const auto due = static_cast<std::uint64_t>(static_cast<double>(elapsed) * rate_per_ns_) + 1;
  const std::uint64_t target = std::min(due, limit_);
  if (started_ >= target) return false;
  const std::uint64_t count =
      std::min<std::uint64_t>(target - started_, static_cast<std::uint64_t>(options_.batch));
  for (std::uint64_t i = 0; i < count; ++i)
    start_one(now);
  return true;
}

std::uint16_t Worker::pick_socket(std::uint64_t sequence) const {
  // Runs of 16 consecutive calls share a socket, so sendmmsg still batches with many sockets.
  return client_sockets_[(sequence / 16) % client_sockets_.size()];
}

void Worker::start_one(std::int64_t now) {
  ++started_;
  const std::uint64_t sequence = next_sequence_++;
  Slot& slot = slot_of(sequence);
  if (slot.state != SlotState::Free) {
    counters_.add(Stat::SkippedTableFull);
    return;
  }
  if (throttled_by_oc(now)) {
    counters_.add(Stat::Throttled);
    return;
  }
  slot = Slot{};
  slot.sequence = sequence;
  slot.started_ns = now;
  slot.socket = pick_socket(sequence);
  counters_.add(Stat::Attempted);
  ++active_;
  switch (options_.role) {
    case Role::Uac:
    case Role::Both:
      open_transaction(slot, TxKind::Invite, now);
      break;
    case Role::Options:
      open_transaction(slot, TxKind::Options, now);
      break;
    case Role::Register: {
      const auto user = static_cast<std::uint32_t>(next_user_++ % users_.size());
      slot.user = user;
      slot.cseq = ++user_cseq_[user];
      open_transaction(slot, TxKind::Register, now);
      break;
    }
    case Role::Uas:
      break;
  }
}

void Worker::open_transaction(Slot& slot, TxKind kind, std::int64_t now) {
  switch (kind) {
    case TxKind::Invite:
      slot.state = SlotState::Calling;
      break;
    case TxKind::Bye:
      slot.state = SlotState::ByeSent;
      break;
    case TxKind::Options:
      slot.state = SlotState::Pending;
      break;
    case TxKind::Register:
      slot.state = SlotState::AwaitChallenge;
      break;
    case TxKind::RegisterAuth:
      slot.state = SlotState::AwaitFinal;
      break;
    case TxKind::Ack:
      return;
  }
  slot.stage = 0;
  slot.tx_started_ns = now;
  send_request(slot, kind);
  // A full FIFO loses the retransmissions (or, for the timeout, leaves the drain deadline
  // to end the transaction); the counter says it happened.
  if (!retransmit_[0].push(slot.sequence, now, kind, 0)) counters_.add(Stat::TimerOverflow);
  if (!timeouts_.push(slot.sequence, now, kind, 0)) counters_.add(Stat::TimerOverflow);
}

void Worker::send_request(Slot& slot, TxKind kind) {
  const WorkerSocket& socket = sockets_[slot.socket];
  const ClientTemplates& templates = *socket.templates;
  const sockaddr_storage* to = connected_ ? nullptr : &target_.storage;
  const socklen_t to_length = connected_ ? 0 : target_.length;
  const std::uint64_t sequence = slot.sequence;
  switch (kind) {
    case TxKind::Invite:
      send(socket.fd, to, to_length,
           [&](std::span<char> out) { return templates.invite(out, sequence); });
      return;
    case TxKind::Ack:
    case TxKind::Bye: {
      const DialogTarget& target = dialogs_[slot.dialog];
      const DialogView dialog{target.remote_target, target.route_lines, slot.remote_tag()};
      send(socket.fd, to, to_length, [&](std::span<char> out) {
        return kind == TxKind::Ack ? templates.ack_2xx(out, sequence, dialog)
                                   : templates.bye(out, sequence, dialog);
      });
      return;
    }
    case TxKind::Options:
      send(socket.fd, to, to_length,
           [&](std::span<char> out) { return templates.options(out, sequence); });
      return;
    case TxKind::Register:
    case TxKind::RegisterAuth: {
      const std::string& user = options_.users[users_[slot.user]];
      std::string_view authorization;
      if (kind == TxKind::RegisterAuth) {
        std::array<char, kInstanceLength + kSequenceWidth> cnonce{};
        std::memcpy(cnonce.data(), instance_.data(), kInstanceLength);
        write_fixed_decimal(cnonce.data() + kInstanceLength, kSequenceWidth, sequence);
        const CredentialsInput input{user,
                                     options_.register_password,
                                     "REGISTER",
                                     templates.register_uri(),
                                     {cnonce.data(), cnonce.size()},
                                     1};
        const std::size_t length =
            write_authorization(authorization_, challenges_[sequence & slot_mask_], input);
        if (length == 0) {
          counters_.add(Stat::TooLarge);
          return;
        }
        authorization = {authorization_.data(), length};
      }
      const RegisterView registration{user, slot.cseq, authorization};
      send(socket.fd, to, to_length, [&](std::span<char> out) {
        return templates.register_request(out, kind, sequence, registration);
      });
      return;
    }
  }
}

void Worker::finish(Slot& slot, Stat outcome) {
  counters_.add(outcome);
  slot.state = SlotState::Free;
  --active_;
}

void Worker::fail(Slot& slot, Stat reason) {
  counters_.add(Stat::Failed);
  if (reason != Stat::Failed) counters_.add(reason);
  slot.state = SlotState::Free;
  --active_;
}

// --- client responses ------------------------------------------------------------------------

void Worker::on_response(std::int64_t now) {
  const sip::Message& response = *message_;
  const std::uint16_t code = response.status_code;
  if (code >= 100 && code < 700) {
    counters_.add(static_cast<Stat>(static_cast<int>(Stat::Responses1xx) + code / 100 - 1));
  }
  const auto branch = decode_branch(response.top_via.branch, instance_);
  if (!branch || slots_.size() == 0) {
    counters_.add(Stat::UnmatchedResponses);
    return;
  }
  if (options_.overload_control) read_oc_feedback(now);
  Slot& slot = slot_of(branch->sequence);
  if (slot.sequence != branch->sequence || slot.state == SlotState::Free) {
    counters_.add(Stat::DuplicateResponses);  // the transaction already ended
    return;
  }
  // Shed by an overloaded server (RFC 3261 §21.5.4): the transaction fails below like any
  // final response >= 300; this says why.
  if (code == 503) counters_.add(Stat::Shed);
  switch (branch->kind) {
    case TxKind::Invite:
      on_invite_response(slot, now);
      return;
    case TxKind::Bye:
      on_bye_response(slot, now);
      return;
    case TxKind::Options:
      on_options_response(slot, now);
      return;
    case TxKind::Register:
    case TxKind::RegisterAuth:
      on_register_response(slot, branch->kind, now);
      return;
    case TxKind::Ack:
      counters_.add(Stat::UnmatchedResponses);  // nobody answers an ACK
      return;
  }
}

// RFC 7339 §5.2, loss algorithm §7.3: oc=X in the top Via (ours) asks us to send X% fewer
// new requests for oc-validity ms; oc-seq orders the feedback (an older one is ignored).
void Worker::read_oc_feedback(std::int64_t now) {
  const std::string_view params = message_->top_via.params;
  if (params.empty()) return;
  const auto value_of = [&](std::string_view name) -> std::optional<std::string_view> {
    const std::optional<sip::Param> param =
        sip::find_param(params, name, sip::ParamCursor::Style::Header);
    if (!param || !param->has_value) return std::nullopt;
    return param->value;
  };
  const std::optional<std::string_view> oc = value_of("oc");
  if (!oc) return;
  const auto number = [](std::string_view text, std::uint64_t fallback) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end != text.data() ? value : fallback;
  };
  std::uint64_t seq = 0;
  if (const auto seq_text = value_of("oc-seq")) {
    const std::size_t dot = seq_text->find('.');
    seq = number(seq_text->substr(0, dot), 0) * 1000;
    if (dot != std::string_view::npos) {
      std::string_view fraction = seq_text->substr(dot + 1, 3);
      std::uint64_t millis = number(fraction, 0);
      for (std::size_t digits = fraction.size(); digits < 3; ++digits)
        millis *= 10;
      seq += millis;
    }
  }
  if (seq != 0 && seq < oc_seq_milli_) return;  // reordered: older feedback
  oc_seq_milli_ = std::max(oc_seq_milli_, seq);
  const std::uint64_t validity_ms = value_of("oc-validity") ? number(*value_of("oc-validity"), 0)
                                                            : 500;  // the RFC's example value
  oc_reduction_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(number(*oc, 0), 100));
  oc_valid_until_ns_ =
      validity_ms == 0 ? 0 : now + static_cast<std::int64_t>(validity_ms) * 1'000'000;
}

bool Worker::throttled_by_oc(std::int64_t now) {
  if (!options_.overload_control || oc_reduction_ == 0 || now >= oc_valid_until_ns_) return false;
  oc_random_ ^= oc_random_ << 13;
  oc_random_ ^= oc_random_ >> 7;
  oc_random_ ^= oc_random_ << 17;
  return oc_random_ % 100 < oc_reduction_;
}

void Worker::on_invite_response(Slot& slot, std::int64_t now) {
  const sip::Message& response = *message_;
  const std::uint16_t code = response.status_code;
  const bool open = slot.state == SlotState::Calling || slot.state == SlotState::Proceeding;
  if (code < 200) {
    // RFC 3261 §17.1.1.2: a provisional response stops Timer A.
    if (slot.state == SlotState::Calling) slot.state = SlotState::Proceeding;
    return;
  }
  if (!open) {
    counters_.add(Stat::DuplicateResponses);
    // RFC 3261 §13.2.2.4: every retransmitted 2xx gets the ACK again.
    if (code < 300 && (slot.state == SlotState::Holding || slot.state == SlotState::ByeSent)) {
      counters_.add(Stat::AcksResent);
      send_request(slot, TxKind::Ack);
    }
    return;
  }
  if (code >= 300) {
    // RFC 3261 §17.1.1.3: the INVITE transaction itself ACKs a failure response.
    const WorkerSocket& socket = sockets_[slot.socket];
    const std::string_view tag = response.to.has_tag ? response.to.tag : std::string_view();
    const std::uint64_t sequence = slot.sequence;
    send(socket.fd, connected_ ? nullptr : &target_.storage, connected_ ? 0 : target_.length,
         [&](std::span<char> out) { return socket.templates->ack_failure(out, sequence, tag); });
    fail(slot, Stat::FailedStatus);
    return;
  }
  (*latency_)[static_cast<std::size_t>(Latency::Invite)].record(
      static_cast<std::uint64_t>(now - slot.started_ns));
  if (!remember_dialog(slot)) {
    fail(slot, Stat::BadResponses);
    return;
  }
  send_request(slot, TxKind::Ack);
  if (options_.hold_ms == 0) {
    open_transaction(slot, TxKind::Bye, now);
  } else {
    slot.state = SlotState::Holding;
    if (!holds_.push(slot.sequence, now, TxKind::Bye, 0)) counters_.add(Stat::TimerOverflow);
  }
}

void Worker::on_bye_response(Slot& slot, std::int64_t now) {
  const std::uint16_t code = message_->status_code;
  if (slot.state != SlotState::ByeSent) {
    counters_.add(Stat::DuplicateResponses);
    return;
  }
  if (code < 200) return;
  if (code >= 300) {
    fail(slot, Stat::FailedStatus);
    return;
  }
  (*latency_)[static_cast<std::size_t>(Latency::Bye)].record(
      static_cast<std::uint64_t>(now - slot.tx_started_ns));
  finish(slot, Stat::Completed);
}

void Worker::on_options_response(Slot& slot, std::int64_t now) {
  const std::uint16_t code = message_->status_code;
  if (code < 200) return;
  if (code >= 300) {
    fail(slot, Stat::FailedStatus);
    return;
  }
  (*latency_)[static_cast<std::size_t>(Latency::Options)].record(
      static_cast<std::uint64_t>(now - slot.started_ns));
  finish(slot, Stat::Completed);
}

void Worker::on_register_response(Slot& slot, TxKind kind, std::int64_t now) {
  const sip::Message& response = *message_;
  const std::uint16_t code = response.status_code;
  const SlotState expected =
      kind == TxKind::Register ? SlotState::AwaitChallenge : SlotState::AwaitFinal;
  if (slot.state != expected) {
    counters_.add(Stat::DuplicateResponses);
    return;
  }
  if (code < 200) return;
  if (code < 300) {
    (*latency_)[static_cast<std::size_t>(Latency::Register)].record(
        static_cast<std::uint64_t>(now - slot.started_ns));
    finish(slot, Stat::Completed);
    return;
  }
  const bool challenge = code == 401 || code == 407;
  if ((challenge || code == 403) && kind == TxKind::RegisterAuth) {
    // Our credentials were refused (wrong password, or a nonce the server no longer takes).
    counters_.add(Stat::AuthRejected);
    fail(slot, Stat::FailedStatus);
    return;
  }
  if (!challenge) {
    fail(slot, Stat::FailedStatus);
    return;
  }
  const PickedChallenge picked = pick_challenge(response);
  if (picked.error != ChallengeError::None) {
    fail(slot, Stat::BadResponses);
    return;
  }
  challenges_[slot.sequence & slot_mask_] = picked.challenge;
  counters_.add(Stat::AuthChallenges);
  // RFC 3261 §10.2: same Call-ID, CSeq one higher, new branch (a new transaction).
  slot.cseq = ++user_cseq_[slot.user];
  open_transaction(slot, TxKind::RegisterAuth, now);
}

bool Worker::remember_dialog(Slot& slot) {
  const sip::Message& response = *message_;
  if (!response.to.has_tag || response.to.tag.empty() || response.to.tag.size() > kMaxTagLength) {
    return false;
  }
  std::memcpy(slot.tag.data(), response.to.tag.data(), response.to.tag.size());
  slot.tag_size = static_cast<std::uint8_t>(response.to.tag.size());

  // RFC 3261 §12.1.2: the remote target is the 2xx's Contact, the route set its
  // Record-Route in reverse order.
  std::string_view target = sockets_[slot.socket].templates->request_uri();
  if (const sip::HeaderField* contact = response.find(sip::HeaderId::Contact)) {
    sip::ListCursor cursor(contact->value);
    if (const auto first = cursor.next()) {
      const auto parsed = sip::parse_contact(*first);
      if (parsed.ok() && !parsed.value.star) target = parsed.value.address.uri_text;
    }
  }
  route_elements_.clear();
  for (const sip::HeaderField* field = response.find(sip::HeaderId::RecordRoute); field != nullptr;
       field = response.next(*field)) {
    sip::ListCursor cursor(field->value);
    while (const auto element = cursor.next())
      route_elements_.push_back(*element);
  }
  route_scratch_.clear();
  if (!route_elements_.empty()) {
    route_scratch_ += "Route: ";
    for (std::size_t i = route_elements_.size(); i-- > 0;) {
      route_scratch_ += route_elements_[i];
      if (i != 0) route_scratch_ += ", ";
    }
    route_scratch_ += "\r\n";
  }
  const std::uint8_t index = intern_dialog(target, route_scratch_);
  if (index == kMaxDialogTargets) return false;
  slot.dialog = index;
  return true;
}

// Calls through one proxy to one UAS all share a remote target and route set: keep the few
// distinct ones and refer to them by index, so a call slot stays small and fixed.
std::uint8_t Worker::intern_dialog(std::string_view target, std::string_view routes) {
  auto same = [&](const DialogTarget& known) {
    return known.remote_target == target && known.route_lines == routes;
  };
  if (last_dialog_ < dialogs_.size() && same(dialogs_[last_dialog_])) {
    return static_cast<std::uint8_t>(last_dialog_);
  }
  for (std::size_t i = 0; i < dialogs_.size(); ++i) {
    if (same(dialogs_[i])) {
      last_dialog_ = i;
      return static_cast<std::uint8_t>(i);
    }
  }
  if (dialogs_.size() >= kMaxDialogTargets) return kMaxDialogTargets;
  dialogs_.push_back({std::string(target), std::string(routes)});
  last_dialog_ = dialogs_.size() - 1;
  return static_cast<std::uint8_t>(last_dialog_);
}

// --- server side ------------------------------------------------------------------------------

void Worker::on_request(int fd, const sockaddr_storage& from, socklen_t length) {
  const sip::Message& request = *message_;
  counters_.add(Stat::RequestsRecv);
  // Responses go back where the request came from: what RFC 3581 rport asks for, and the
  // proxy's address when one is in the path.
  switch (request.method) {
    case sip::Method::Invite:
      counters_.add(Stat::InvitesRecv);
      if (request.to.has_tag) {  // re-INVITE: just accept it
        respond(fd, from, length, ResponseKind::OkSdp);
        return;
      }
      respond(fd, from, length, ResponseKind::Trying);
      respond(fd, from, length, ResponseKind::Ringing);
      respond(fd, from, length, ResponseKind::OkSdp);
      return;
    case sip::Method::Ack:
      counters_.add(Stat::AcksRecv);
      return;
    case sip::Method::Bye:
      counters_.add(Stat::ByesRecv);
      respond(fd, from, length, ResponseKind::Ok);
      return;
    case sip::Method::Register:
      counters_.add(Stat::OtherRequestsRecv);
      if (authenticator_ != nullptr) {
        answer_register(fd, from, length);
      } else {
        respond(fd, from, length, ResponseKind::Ok);
      }
      return;
    default:
      counters_.add(Stat::OtherRequestsRecv);
      respond(fd, from, length, ResponseKind::Ok);
      return;
  }
}

// A registrar's digest check (RFC 3261 §22.4) with the proxy's own verifier: 401 with fresh
// challenges, 200 for good credentials, 403 for bad ones.
void Worker::answer_register(int fd, const sockaddr_storage& from, socklen_t length) {
  const std::int64_t wall_clock = time(nullptr);
  const sip::AuthCheck check = authenticator_->authenticate(*message_, sip::AuthHeaderKind::Www,
                                                            password_directory_, wall_clock);
  const sip::AuthReply reply = sip::auth_reply(check.result, sip::AuthHeaderKind::Www);
  if (reply.code == 0) {
    respond(fd, from, length, ResponseKind::Ok);
    return;
  }
  if (reply.code != 401) {
    respond(fd, from, length, ResponseKind::Forbidden);
    return;
  }
  const sip::Written written = authenticator_->write_challenges(
      sip::AuthHeaderKind::Www, reply.stale, wall_clock, challenge_lines_);
  if (!written.ok()) {
    counters_.add(Stat::TooLarge);
    return;
  }
  respond(fd, from, length, ResponseKind::Unauthorized, {challenge_lines_.data(), written.size});
}

void Worker::respond(int fd, const sockaddr_storage& to, socklen_t length, ResponseKind kind,
                     std::string_view extra_lines) {
  send(fd, &to, length,
       [&](std::span<char> out) { return responder_.write(out, *message_, kind, extra_lines); });
}

// --- timers ------------------------------------------------------------------------------------

bool Worker::run_timers(std::int64_t now) {
  bool fired = false;
  for (TimerFifo& fifo : retransmit_) {
    while (const TimerEntry* due = fifo.due(now)) {
      const TimerEntry entry = *due;
      fifo.pop();
      on_retransmit(entry, now);
      fired = true;
    }
  }
  while (const TimerEntry* due = timeouts_.due(now)) {
    const TimerEntry entry = *due;
    timeouts_.pop();
    on_timeout(entry);
    fired = true;
  }
  while (const TimerEntry* due = holds_.due(now)) {
    const TimerEntry entry = *due;
    holds_.pop();
    Slot& slot = slot_of(entry.sequence);
    if (slot.sequence == entry.sequence && slot.state == SlotState::Holding) {
      open_transaction(slot, TxKind::Bye, now);
    }
    fired = true;
  }
  return fired;
}

void Worker::on_retransmit(const TimerEntry& entry, std::int64_t now) {
  Slot& slot = slot_of(entry.sequence);
  if (slot.sequence != entry.sequence || slot.stage != entry.stage ||
      !awaiting(slot.state, entry.kind, false)) {
    return;  // answered (or ended) since the timer was set
  }
  send_request(slot, entry.kind);
  counters_.add(Stat::Retransmissions);
  ++slot.stage;
  const std::int64_t interval = retransmit_interval(entry.kind, slot.stage);
  const std::int64_t timeout = std::int64_t{options_.timeout_ms} * 1'000'000;
  if (now + interval - slot.tx_started_ns < timeout &&
      !retransmit_[static_cast<std::size_t>(retransmit_fifo(entry.kind, slot.stage))].push(
          slot.sequence, now, entry.kind, slot.stage)) {
    counters_.add(Stat::TimerOverflow);
  }
}

void Worker::on_timeout(const TimerEntry& entry) {
  Slot& slot = slot_of(entry.sequence);
  if (slot.sequence != entry.sequence || !awaiting(slot.state, entry.kind, true)) return;
  fail(slot, Stat::Timeouts);
}

std::int64_t Worker::next_deadline(std::int64_t now) const {
  // Wake at least every 50 ms to notice a stop request or the idle limit.
  std::int64_t deadline = now + 50'000'000;
  if (phase_ == ClientPhase::Generating) {
    const auto next_start =
        t0_ + static_cast<std::int64_t>(static_cast<double>(started_) / rate_per_ns_);
    deadline = std::min({deadline, next_start, generation_deadline_ns_});
  }
  if (phase_ == ClientPhase::Draining) deadline = std::min(deadline, drain_deadline_ns_);
  for (const TimerFifo& fifo : retransmit_)
    deadline = std::min(deadline, fifo.next_due());
  deadline = std::min({deadline, timeouts_.next_due(), holds_.next_due()});
  return deadline;
}

// --- I/O ---------------------------------------------------------------------------------------

template <class Render>
void Worker::send(int fd, const sockaddr_storage* to, socklen_t to_length, Render&& render) {
  if (send_queue_.full()) flush();
  const std::size_t length = render(send_queue_.buffer());
  if (length == 0) {
    counters_.add(Stat::TooLarge);
    return;
  }
  send_queue_.commit(length, fd, to, to_length);
}

void Worker::flush() {
  if (send_queue_.empty()) return;
  const SendQueue::Result result = send_queue_.flush();
  counters_.add(Stat::MsgsSent, result.sent);
  counters_.add(Stat::BytesSent, result.bytes);
  counters_.add(Stat::SendCalls, result.calls);
  if (result.failed != 0) counters_.add(Stat::SendErrors, result.failed);
}

bool Worker::receive(std::int64_t now) {
  bool any = false;
  if (sockets_.size() <= kDirectReceiveSockets) {
    for (std::size_t i = 0; i < sockets_.size(); ++i)
      any |= receive_from(i);
  } else {
    std::array<epoll_event, 64> events;
    const int ready = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < ready; ++i)
      any |= receive_from(events[static_cast<std::size_t>(i)].data.u32);
  }
  if (any && options_.idle_exit_s > 0) {
    shared_.last_traffic_ns->store(now, std::memory_order_relaxed);
  }
  return any;
}

bool Worker::receive_from(std::size_t socket_index) {
  const int fd = sockets_[socket_index].fd;
  const int count = receive_batch_.receive(fd);
  if (count == 0) return false;
  counters_.add(Stat::RecvCalls);
  // Latency ends when the batch arrived, not when this loop iteration began.
  const std::int64_t now = monotonic_ns();
  counters_.add(Stat::MsgsRecv, static_cast<std::uint64_t>(count));
  std::uint64_t bytes = 0;
  for (int i = 0; i < count; ++i) {
    if (receive_batch_.truncated(i)) {
      counters_.add(Stat::RecvTruncated);
      continue;
    }
    const std::string_view datagram = receive_batch_.datagram(i);
    bytes += datagram.size();
    sip::parse_message_into(*message_, datagram);
    if (!message_->ok()) {
      counters_.add(Stat::ParseErrors);
      continue;
    }
    if (message_->is_response()) {
      on_response(now);
    } else {
      on_request(fd, receive_batch_.source(i), receive_batch_.source_length(i));
    }
  }
  counters_.add(Stat::BytesRecv, bytes);
  return true;
}

void Worker::pause_until(std::int64_t deadline) {
  if (options_.busy_poll) {
    while (monotonic_ns() < deadline)
      __builtin_ia32_pause();
    return;
  }
  const timespec until{static_cast<time_t>(deadline / 1'000'000'000),
                       static_cast<long>(deadline % 1'000'000'000)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
}

void Worker::wait_until(std::int64_t deadline, std::int64_t now) {
  if (deadline <= now) return;
  const std::int64_t wait = deadline - now;
  const timespec timeout{static_cast<time_t>(wait / 1'000'000'000),
                         static_cast<long>(wait % 1'000'000'000)};
  counters_.add(Stat::Sleeps);
  std::array<epoll_event, 16> events;
  // Readiness is only a wake-up: the next iteration reads every socket anyway.
  epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()), &timeout, nullptr);
}

// --- engine ------------------------------------------------------------------------------------

Engine::Engine(const Options& options) : options_(options) {}

Engine::~Engine() {
  request_stop();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::string Engine::start() {
  const std::string run_id = random_run_id();
  int thread_count = options_.threads;
  if (options_.role == Role::Register) {
    thread_count = static_cast<int>(std::min<std::size_t>(thread_count, options_.users.size()));
  }
  SharedState shared{&stop_, &generating_, &last_traffic_ns_, {}};
  if (!options_.uas_auth_algorithms.empty()) shared.nonce_secret = sip::random_nonce_secret();
  for (int i = 0; i < thread_count; ++i) {
    char instance[16];
    std::snprintf(instance, sizeof instance, "%s%02x", run_id.c_str(), i & 0xFF);
    workers_.push_back(std::make_unique<Worker>(options_, i, instance, shared));
  }
  if (options_.generates()) {
    for (int j = 0; j < options_.sockets; ++j) {
      std::string error =
          workers_[static_cast<std::size_t>(j % thread_count)]->open_client_socket(j);
      if (!error.empty()) return error;
    }
  }
  if (options_.answers()) {
    for (auto& worker : workers_) {
      std::string error = worker->open_uas_socket();
      if (!error.empty()) return error;
    }
  }
  int generating = 0;
  for (int i = 0; i < thread_count; ++i) {
    const auto threads = static_cast<std::uint64_t>(thread_count);
    std::uint64_t limit = UINT64_MAX;
    if (options_.calls != 0) {
      limit = options_.calls / threads + (static_cast<std::uint64_t>(i) < options_.calls % threads);
    }
    std::vector<std::uint32_t> users;
    if (options_.role == Role::Register) {
      for (std::size_t u = static_cast<std::size_t>(i); u < options_.users.size();
           u += static_cast<std::size_t>(thread_count)) {
        users.push_back(static_cast<std::uint32_t>(u));
      }
    }
    Worker& worker = *workers_[static_cast<std::size_t>(i)];
    worker.plan(options_.rate / thread_count, options_.generates() ? limit : 0, std::move(users));
    std::string error = worker.finish_setup();
    if (!error.empty()) return error;
    if (worker.generates()) ++generating;
  }
  generating_.store(generating);
  running_.store(thread_count);
  started_ns_ = monotonic_ns();
  for (auto& worker : workers_) {
    threads_.emplace_back([this, raw = worker.get(), t0 = started_ns_] {
      raw->run(t0);
      running_.fetch_sub(1, std::memory_order_acq_rel);
    });
  }
  return {};
}

Totals Engine::snapshot() const {
  Totals totals{};
  for (const auto& worker : workers_)
    worker->counters().add_to(totals);
  return totals;
}

RunReport Engine::join() {
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  RunReport report;
  report.totals = snapshot();
  report.latency = std::make_unique<LatencySet>();
  report.threads = static_cast<int>(workers_.size());
  std::int64_t last_exit = started_ns_;
  std::int64_t last_generation = started_ns_;
  for (const auto& worker : workers_) {
    for (std::size_t i = 0; i < kLatencyCount; ++i) {
      (*report.latency)[i].merge(worker->latency()[i]);
    }
    last_exit = std::max(last_exit, worker->exit_ns());
    last_generation = std::max(last_generation, worker->generation_end_ns());
  }
  report.elapsed_s = static_cast<double>(last_exit - started_ns_) / 1e9;
  report.generation_s = static_cast<double>(last_generation - started_ns_) / 1e9;
  return report;
}

}  // namespace sipline::sipblast
