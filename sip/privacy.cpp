#include "sip/privacy.hpp"

#include "sip/text.hpp"

namespace sipline::sip {

bool withholds_identity(const Message& message) {
  for (const HeaderField* field = message.find(HeaderId::Privacy); field != nullptr;
       field = message.next(*field)) {
    std::string_view rest = field->value;
    while (!rest.empty()) {
      const std::size_t end = rest.find(';');
      if (iequals(trim_lws(rest.substr(0, end)), "id")) return true;
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  return false;
}

}  // namespace sipline::sip
