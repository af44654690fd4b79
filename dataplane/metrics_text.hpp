// The counter lines (what SIGUSR1 and `siplinectl counters` print) in the Prometheus text
// exposition format 0.0.4, for the metrics endpoint (metrics_endpoint.hpp). One source of
// truth: every counter a line shows is a metric, and a counter added to a line is exported
// without touching this file.
//
// A line "HEAD: key=value ..." becomes one sample per integer value:
//   sipline_<subsystem>_<key>{labels} value
// where HEAD's words give the subsystem and the labels: a word followed by a number is a
// label ("worker 0" → worker="0"; "net worker 1" → subsystem net, worker="1"), the other
// words are joined by '_' ("location sync" → location_sync). Pool member lines
// ("pool NAME member I URI: up|down [drain] key=value ...") carry pool, member and uri labels
// and two more samples: sipline_pool_member_up (1 or 0) and sipline_pool_member_drained.
// The "total:" line is left out (a query sums the workers). Samples of one metric are
// grouped, as the format requires, in the order their names first appear; the metrics are
// untyped (counters and gauges alike, as the lines do not say which is which).
#pragma once

#include <string>
#include <string_view>

namespace sipline::dataplane {

std::string prometheus_exposition(std::string_view counter_lines);

}  // namespace sipline::dataplane
