#include "sip/registrar.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "sip/header_id.hpp"
#include "sip/name_addr.hpp"
#include "sip/params.hpp"
#include "sip/scalar_headers.hpp"
#include "sip/text.hpp"
#include "sip/token_list.hpp"
#include "sip/uri.hpp"

namespace sipline::sip {
namespace {

constexpr bool is_sip_scheme(UriScheme scheme) {
  return scheme == UriScheme::Sip || scheme == UriScheme::Sips;
}

// One Contact element of the request, with the expiry it asks for.
struct ContactRequest {
  ContactValue value;
  std::uint32_t expires = 0;  // after defaulting, before clamping
};

// What the request asks, once its syntax is known to be acceptable.
struct RegisterIntent {
  std::string aor;
  std::vector<ContactRequest> contacts;
  bool star = false;
};

std::string q_text(std::uint16_t q_milli) {
  if (q_milli >= 1000) return "1";
  if (q_milli == 0) return "0";
  char digits[8];
  std::snprintf(digits, sizeof digits, "0.%03u", unsigned(q_milli));
  std::string text(digits);
  while (text.back() == '0')
    text.pop_back();
  return text;
}

std::string unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  return std::string(value);
}

bool same_contact(const Binding& binding, const Uri& contact_uri, std::string_view contact_text) {
  const Parsed<Uri> stored = parse_uri(binding.contact);
  if (!stored.ok()) return binding.contact == contact_text;
  return uri_equivalent(stored.value, contact_uri);
}

class RegisterHandler {
 public:
  RegisterHandler(const Message& request, std::string_view source, std::int64_t now,
                  const RegistrarContext& context)
      : request_(request),
        source_(source),
        now_(now),
        context_(context),
        settings_(context.settings) {}

  RegisterOutcome run(const BindingLookup& current_bindings) {
    if (!request_.ok() || !request_.is_request() || request_.method != Method::Register) {
      return fail(500, "Not a REGISTER");
    }
    if (!is_sip_scheme(request_.request_uri.scheme)) return fail(416, "");
    if (!is_our_domain(request_.request_uri.host_port.host)) return fail(404, "Domain Not Served");
    if (auto refused = read_intent()) return std::move(*refused);
    if (auto refused = check_require()) return std::move(*refused);
    if (auto refused = authenticate()) return std::move(*refused);
    if (!is_our_domain(to_uri_.host_port.host)) return fail(404, "Domain Not Served");

    outcome_.aor = intent_.aor;
    const std::vector<Binding> current = current_bindings(intent_.aor);
    std::vector<Binding> live = unexpired(current);
    if (auto refused = check_min_expires()) return finish_unchanged(std::move(*refused), current);
    std::vector<Binding> after = apply(live);
    if (after.size() > settings_.max_contacts) return too_many_contacts(current);
    std::stable_sort(after.begin(), after.end(),
                     [](const Binding& a, const Binding& b) { return a.q_milli > b.q_milli; });
    outcome_.changed = after != current;
    outcome_.bindings_after = std::move(after);
    outcome_.code = 200;
    outcome_.extra_headers = binding_contact_lines(outcome_.bindings_after, now_) +
                             "Date: " + format_sip_date(now_) + "\r\n";
    return std::move(outcome_);
  }

 private:
  RegisterOutcome fail(std::uint16_t code, std::string_view reason,
                       std::string extra_headers = {}) {
    outcome_.code = code;
    outcome_.reason = std::string(reason);
    outcome_.extra_headers = std::move(extra_headers);
    return std::move(outcome_);
  }

  // A failure after the AOR is known: the bindings stay as they were (expired ones aside).
  RegisterOutcome finish_unchanged(RegisterOutcome refused, const std::vector<Binding>& current) {
    refused.bindings_after = unexpired(current);
    refused.changed = refused.bindings_after != current;
    return refused;
  }

  bool is_our_domain(std::string_view host) const {
    return std::any_of(settings_.domains.begin(), settings_.domains.end(),
                       [host](const std::string& domain) { return iequals(host, domain); });
  }

  std::vector<Binding> unexpired(const std::vector<Binding>& bindings) const {
    std::vector<Binding> live;
    for (const Binding& binding : bindings) {
      if (binding.expires_at > now_) live.push_back(binding);
    }
    return live;
  }

  // --- step 2 and syntax: To, Contact, Expires --------------------------------------------

  std::optional<RegisterOutcome> read_intent() {
    // The message parser leaves the To URI unparsed (UriDepth::Deferred).
    const Parsed<Uri> to_uri =
        request_.to.uri_parsed ? Parsed<Uri>{request_.to.uri} : parse_uri(request_.to.uri_text);
    if (!to_uri.ok()) return fail(400, "Malformed To");
    to_uri_ = to_uri.value;
    const Uri& to = to_uri_;
    if (!is_sip_scheme(to.scheme) || !to.has_user || to.user.empty()) {
      return fail(400, "To Must Be a SIP URI With a User");
    }
    std::string user(to.user.size(), '\0');
    const std::size_t size = unescape(to.user, user.data(), user.size());
    if (size == std::string_view::npos) return fail(400, "Malformed To");
    user.resize(size);
    intent_.aor = std::move(user);

    std::optional<std::uint32_t> expires_header;
    if (const HeaderField* field = request_.find(HeaderId::Expires)) {
      const Parsed<std::uint32_t> expires = parse_expires(field->value);
      if (!expires.ok()) return fail(400, describe(expires.error));
      expires_header = expires.value;
    }
    if (auto refused = read_contacts()) return refused;
    for (ContactRequest& contact : intent_.contacts) {
      contact.expires = contact.value.has_expires
                            ? contact.value.expires
                            : expires_header.value_or(settings_.default_expires);
    }
    // RFC 3261 §10.3 step 6: "*" is valid only alone and with Expires: 0.
    if (intent_.star && (!intent_.contacts.empty() || expires_header != 0u)) {
      return fail(400, "Contact * Needs Expires 0 and No Other Contact");
    }
    return std::nullopt;
  }

  std::optional<RegisterOutcome> read_contacts() {
    for (const HeaderField* field = request_.find(HeaderId::Contact); field != nullptr;
         field = request_.next(*field)) {
      ListCursor elements(field->value);
      while (const std::optional<std::string_view> element = elements.next()) {
        const Parsed<ContactValue> contact = parse_contact(*element);
        if (!contact.ok()) return fail(400, describe(contact.error));
        if (contact.value.star) {
          if (intent_.star) return fail(400, "Contact * Needs Expires 0 and No Other Contact");
          intent_.star = true;
          continue;
        }
        if (!is_sip_scheme(contact.value.address.uri.scheme)) {
          return fail(400, "Contact Must Be a SIP URI");
        }
        intent_.contacts.push_back(ContactRequest{contact.value, 0});
      }
      if (elements.error() != ParseError::None) return fail(400, describe(elements.error()));
    }
    return std::nullopt;
  }

  // --- step 2: Require ---------------------------------------------------------------------

  std::optional<RegisterOutcome> check_require() {
    std::string unsupported;
    for (const HeaderField* field = request_.find(HeaderId::Require); field != nullptr;
         field = request_.next(*field)) {
      ListCursor tags(field->value);
      while (const std::optional<std::string_view> tag = tags.next()) {
        unsupported += unsupported.empty() ? "" : ", ";
        unsupported += *tag;
      }
    }
    if (unsupported.empty()) return std::nullopt;
    return fail(420, "", "Unsupported: " + unsupported + "\r\n");
  }

  // --- steps 3 and 4: authentication, authorization ----------------------------------------

  std::optional<RegisterOutcome> authenticate() {
    if (!settings_.auth) {
      outcome_.auth = AuthResult::Ok;
      return std::nullopt;
    }
    const AuthCheck check =
        context_.auth.authenticate(request_, AuthHeaderKind::Www, context_.users, now_);
    outcome_.auth = check.result;
    outcome_.username = std::string(check.username);
    const AuthReply reply = auth_reply(check.result, AuthHeaderKind::Www);
    if (reply.code == 401) {
      return fail(401, "", context_.auth.challenges(AuthHeaderKind::Www, reply.stale, now_));
    }
    if (reply.code != 0) return fail(reply.code, "");
    // Step 4: a user may register only their own address-of-record.
    if (check.username != intent_.aor) return fail(403, "Username Does Not Match To");
    return std::nullopt;
  }

  // --- step 7: bindings --------------------------------------------------------------------

  std::optional<RegisterOutcome> check_min_expires() {
    for (const ContactRequest& contact : intent_.contacts) {
      if (contact.expires != 0 && contact.expires < settings_.min_expires) {
        return fail(423, "", "Min-Expires: " + std::to_string(settings_.min_expires) + "\r\n");
      }
    }
    return std::nullopt;
  }

  // §10.3 step 7: an update from the same Call-ID must carry a higher CSeq.
  bool may_update(const Binding& binding) const {
    return binding.call_id != request_.call_id || request_.cseq.number > binding.cseq;
  }

  std::vector<Binding> apply(std::vector<Binding> bindings) const {
    if (intent_.star) {
      std::erase_if(bindings, [this](const Binding& binding) { return may_update(binding); });
      return bindings;
    }
    for (const ContactRequest& contact : intent_.contacts) {
      const std::uint32_t expires = std::min(contact.expires, settings_.max_expires);
      const NameAddr& address = contact.value.address;
      const auto existing =
          std::find_if(bindings.begin(), bindings.end(), [&](const Binding& binding) {
            return same_contact(binding, address.uri, address.uri_text);
          });
      if (existing == bindings.end()) {
        if (expires != 0) bindings.push_back(make_binding(contact, expires));
      } else if (may_update(*existing)) {
        if (expires == 0) {
          bindings.erase(existing);
        } else {
          *existing = make_binding(contact, expires);
        }
      }
    }
    return bindings;
  }

  Binding make_binding(const ContactRequest& contact, std::uint32_t expires) const {
    Binding binding;
    binding.aor = intent_.aor;
    binding.contact = std::string(contact.value.address.uri_text);
    binding.received = std::string(source_);
    binding.call_id = std::string(request_.call_id);
    binding.cseq = request_.cseq.number;
    binding.expires_at = now_ + std::int64_t(expires);
    binding.q_milli = contact.value.has_q ? contact.value.q_milli : 1000;
    if (const auto instance =
            find_param(contact.value.address.params, "+sip.instance", ParamCursor::Style::Header)) {
      binding.instance = unquote(instance->value);
    }
    binding.node_address = std::string(context_.node_address);
    return binding;
  }

  RegisterOutcome too_many_contacts(const std::vector<Binding>& current) {
    const std::string limit = std::to_string(settings_.max_contacts);
    RegisterOutcome refused = fail(403, "Too Many Contacts",
                                   "Warning: 399 " + settings_.realm + " \"At most " + limit +
                                       " contacts per address-of-record\"\r\n");
    return finish_unchanged(std::move(refused), current);
  }

  const Message& request_;
  std::string_view source_;
  std::int64_t now_;
  const RegistrarContext& context_;
  const RegistrarSettings& settings_;
  Uri to_uri_;
  RegisterIntent intent_;
  RegisterOutcome outcome_;
};

}  // namespace

DigestAuthSettings registrar_auth_settings(const RegistrarSettings& settings,
                                           const NonceSecret& secret) {
  DigestAuthSettings auth;
  auth.realm = settings.realm;
  auth.algorithms = settings.algorithms;
  auth.secret = secret;
  auth.nonce_lifetime_s = settings.nonce_lifetime_s;
  auth.issuer = 0;
  return auth;
}

RegisterOutcome handle_register(const Message& request, std::string_view source, std::int64_t now,
                                const RegistrarContext& context,
                                const BindingLookup& current_bindings) {
  return RegisterHandler(request, source, now, context).run(current_bindings);
}

std::string binding_contact_lines(const std::vector<Binding>& bindings, std::int64_t now) {
  std::string lines;
  for (const Binding& binding : bindings) {
    lines += "Contact: <" + binding.contact +
             ">;expires=" + std::to_string(std::max<std::int64_t>(binding.expires_at - now, 0));
    if (binding.q_milli != 1000) lines += ";q=" + q_text(binding.q_milli);
    lines += "\r\n";
  }
  return lines;
}

std::string format_sip_date(std::int64_t unix_seconds) {
  using namespace std::chrono;
  static constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_seconds time{seconds{unix_seconds}};
  const sys_days day = floor<days>(time);
  const year_month_day date{day};
  const hh_mm_ss clock{time - day};
  char text[40];
  std::snprintf(text, sizeof text, "%s, %02u %s %04d %02d:%02d:%02d GMT",
                kWeekdays[weekday{day}.c_encoding()], unsigned(date.day()),
                kMonths[unsigned(date.month()) - 1], int(date.year()), int(clock.hours().count()),
                int(clock.minutes().count()), int(clock.seconds().count()));
  return text;
}

}  // namespace sipline::sip
