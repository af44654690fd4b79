#include "sip/service_urn.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sipline::sip {
namespace {

bool emergency(const std::string& text) {
  const Parsed<Uri> uri = parse_uri(text);
  EXPECT_TRUE(uri.ok()) << text;
  return uri.ok() && is_emergency_service_urn(uri.value);
}

TEST(ServiceUrn, SosAndItsSubServicesInAnyCase) {
  for (const char* text :
       {"urn:service:sos", "URN:Service:SOS", "urn:service:sos.police",
        "urn:service:sos.animal-control", "urn:service:sos.x.y", "urn:service:sos.112"}) {
    EXPECT_TRUE(emergency(text)) << text;
  }
}

TEST(ServiceUrn, OtherServicesAndMalformedOnesAreNot) {
  for (const char* text :
       {"urn:service:counseling", "urn:service:sosx", "urn:service:so", "urn:service:sos.",
        "urn:service:.sos", "urn:service:sos..fire", "urn:service:", "urn:service:sos;x=1",
        "urn:services:sos", "urn:nena:service:sos", "urn:sos", "tel:112", "sip:sos@example.com",
        "service:sos"}) {
    EXPECT_FALSE(emergency(text)) << text;
  }
}

}  // namespace
}  // namespace sipline::sip
