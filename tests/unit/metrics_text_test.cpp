#include "dataplane/metrics_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sipline::dataplane {
namespace {

TEST(PrometheusExposition, WorkerLinesBecomeLabelledSamplesGroupedByName) {
  const std::string text = prometheus_exposition(
      "worker 0: received=10 forwarded=8 dropped=2\n"
      "worker 1: received=5 forwarded=5 dropped=0\n"
      "total: received=15 forwarded=13 dropped=2\n"
      "control: registers=3 store_errors=0\n");
  EXPECT_EQ(text,
            "sipline_worker_received{worker=\"0\"} 10\n"
            "sipline_worker_received{worker=\"1\"} 5\n"
            "sipline_worker_forwarded{worker=\"0\"} 8\n"
            "sipline_worker_forwarded{worker=\"1\"} 5\n"
            "sipline_worker_dropped{worker=\"0\"} 2\n"
            "sipline_worker_dropped{worker=\"1\"} 0\n"
            "sipline_control_registers 3\n"
            "sipline_control_store_errors 0\n");
}

TEST(PrometheusExposition, SubsystemsOfSeveralWordsAndNumberedLcores) {
  EXPECT_EQ(prometheus_exposition("location sync: connected=1 notices=4\n"
                                  "net worker 1: rx_frames=7\n"
                                  "net control: arp_replies=2\n"
                                  "location: aors=12\n"),
            "sipline_location_sync_connected 1\n"
            "sipline_location_sync_notices 4\n"
            "sipline_net_rx_frames{worker=\"1\"} 7\n"
            "sipline_net_control_arp_replies 2\n"
            "sipline_location_aors 12\n");
}

// The capture line's collector address is not a counter; its counts are.
TEST(PrometheusExposition, TheCaptureLineGivesItsCounts) {
  EXPECT_EQ(prometheus_exposition("capture: hep=192.0.2.9:9060 captured=14 sent=13 dropped_full=1 "
                                  "too_large=0 send_failed=0\n"),
            "sipline_capture_captured 14\n"
            "sipline_capture_sent 13\n"
            "sipline_capture_dropped_full 1\n"
            "sipline_capture_too_large 0\n"
            "sipline_capture_send_failed 0\n");
}

TEST(PrometheusExposition, CallLimitsCarryTheRoute) {
  EXPECT_EQ(prometheus_exposition("call_limit route carrier-trunk: calls=30 max=30 refused=7 "
                                  "max_cps=5 refused_cps=2\n"
                                  "call_limit route pbx: calls=2 max=10 refused=0 max_cps=0 "
                                  "refused_cps=0\n"
                                  "call_limit users: limited=500 calls=41 refused=3\n"
                                  "call_limit group carrier: calls=9 max=30 refused=0 max_cps=10 "
                                  "refused_cps=4\n"),
            "sipline_call_limit_route_calls{route=\"carrier-trunk\"} 30\n"
            "sipline_call_limit_route_calls{route=\"pbx\"} 2\n"
            "sipline_call_limit_route_max{route=\"carrier-trunk\"} 30\n"
            "sipline_call_limit_route_max{route=\"pbx\"} 10\n"
            "sipline_call_limit_route_refused{route=\"carrier-trunk\"} 7\n"
            "sipline_call_limit_route_refused{route=\"pbx\"} 0\n"
            "sipline_call_limit_route_max_cps{route=\"carrier-trunk\"} 5\n"
            "sipline_call_limit_route_max_cps{route=\"pbx\"} 0\n"
            "sipline_call_limit_route_refused_cps{route=\"carrier-trunk\"} 2\n"
            "sipline_call_limit_route_refused_cps{route=\"pbx\"} 0\n"
            "sipline_call_limit_users_limited 500\n"
            "sipline_call_limit_users_calls 41\n"
            "sipline_call_limit_users_refused 3\n"
            "sipline_call_limit_group_calls{group=\"carrier\"} 9\n"
            "sipline_call_limit_group_max{group=\"carrier\"} 30\n"
            "sipline_call_limit_group_refused{group=\"carrier\"} 0\n"
            "sipline_call_limit_group_max_cps{group=\"carrier\"} 10\n"
            "sipline_call_limit_group_refused_cps{group=\"carrier\"} 4\n");
}

TEST(PrometheusExposition, PoolMembersCarryPoolMemberAndUri) {
  EXPECT_EQ(prometheus_exposition(
                "pool pbx member 0 sip:10.0.0.1:5060;transport=udp: up probes=9 lost=0\n"
                "pool pbx member 1 sip:[2001:db8::2]:5060: down drain unanswering probes=9 lost=9\n"
                "probes: send_failed=0 unmatched_answers=1\n"),
            "sipline_pool_member_up{pool=\"pbx\",member=\"0\",uri=\"sip:10.0.0.1:5060;transport="
            "udp\"} 1\n"
            "sipline_pool_member_up{pool=\"pbx\",member=\"1\",uri=\"sip:[2001:db8::2]:5060\"} 0\n"
            "sipline_pool_member_drained{pool=\"pbx\",member=\"0\",uri=\"sip:10.0.0.1:5060;"
            "transport=udp\"} 0\n"
            "sipline_pool_member_drained{pool=\"pbx\",member=\"1\",uri=\"sip:[2001:db8::2]:5060\"} "
            "1\n"
            "sipline_pool_member_unanswering{pool=\"pbx\",member=\"0\",uri=\"sip:10.0.0.1:5060;"
            "transport=udp\"} 0\n"
            "sipline_pool_member_unanswering{pool=\"pbx\",member=\"1\",uri=\"sip:[2001:db8::2]:"
            "5060\"} 1\n"
            "sipline_pool_member_probes{pool=\"pbx\",member=\"0\",uri=\"sip:10.0.0.1:5060;"
            "transport=udp\"} 9\n"
            "sipline_pool_member_probes{pool=\"pbx\",member=\"1\",uri=\"sip:[2001:db8::2]:5060\"} "
            "9\n"
            "sipline_pool_member_lost{pool=\"pbx\",member=\"0\",uri=\"sip:10.0.0.1:5060;"
            "transport=udp\"} 0\n"
            "sipline_pool_member_lost{pool=\"pbx\",member=\"1\",uri=\"sip:[2001:db8::2]:5060\"} "
            "9\n"
            "sipline_probes_send_failed 0\n"
            "sipline_probes_unmatched_answers 1\n");
}

TEST(PrometheusExposition, EscapesLabelValuesAndSkipsWhatIsNotACounter) {
  EXPECT_EQ(prometheus_exposition("pool p member 0 sip:\"a\\b\":5060: up probes=1\n"
                                  "worker 0: received=x mode=fast =3 sent=4\n"
                                  "no colon here\n"
                                  "\n"),
            "sipline_pool_member_up{pool=\"p\",member=\"0\",uri=\"sip:\\\"a\\\\b\\\":5060\"} 1\n"
            "sipline_pool_member_drained{pool=\"p\",member=\"0\",uri=\"sip:\\\"a\\\\b\\\":5060\"} "
            "0\n"
            "sipline_pool_member_unanswering{pool=\"p\",member=\"0\",uri=\"sip:\\\"a\\\\b\\\":"
            "5060\"} 0\n"
            "sipline_pool_member_probes{pool=\"p\",member=\"0\",uri=\"sip:\\\"a\\\\b\\\":5060\"} "
            "1\n"
            "sipline_worker_sent{worker=\"0\"} 4\n");
}

}  // namespace
}  // namespace sipline::dataplane
