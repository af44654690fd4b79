#include "sip/substring_set.hpp"

#include <algorithm>
#include <utility>

namespace sipline::sip {

SubstringSet::SubstringSet(std::vector<std::string> names) : names_(std::move(names)) {
  std::erase_if(names_, [](const std::string& name) { return name.empty(); });
  for (const std::string& name : names_)
    starts_name_[static_cast<unsigned char>(name.front())] = true;
}

bool SubstringSet::found_in(std::string_view text) const noexcept {
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (!starts_name_[static_cast<unsigned char>(text[at])]) continue;
    const std::string_view rest = text.substr(at);
    for (const std::string& name : names_) {
      if (rest.starts_with(name)) return true;
    }
  }
  return false;
}

}  // namespace sipline::sip
