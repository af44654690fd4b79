// A few short names, looked for inside a header value (a User-Agent against the scanners'
// names): one pass over the value, comparing names only where a value octet is the first
// octet of one of them. Six std::string_view::find calls per request cost a stateless
// proxy about 4% of its cycles (bench_pipeline); this pass costs next to nothing when no
// octet matches.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace sipline::sip {

class SubstringSet {
 public:
  SubstringSet() = default;
  explicit SubstringSet(std::vector<std::string> names);

  bool empty() const noexcept { return names_.empty(); }
  // True when one of the names occurs in `text` (octets compared exactly).
  bool found_in(std::string_view text) const noexcept;

 private:
  std::vector<std::string> names_;
  std::array<bool, 256> starts_name_{};  // an octet that some name starts with
};

}  // namespace sipline::sip
