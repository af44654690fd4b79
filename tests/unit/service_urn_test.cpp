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

TEST(ServiceUrn, TheServiceAsWrittenAndItsMoreGeneralOnes) {
  const Parsed<Uri> uri = parse_uri("urn:service:SOS.Police.x");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(emergency_service(uri.value), "SOS.Police.x");
  EXPECT_EQ(general_service("SOS.Police.x"), "SOS.Police");
  EXPECT_EQ(general_service("sos.police"), "sos");
  EXPECT_EQ(general_service("sos"), "");
  EXPECT_EQ(emergency_service(parse_uri("urn:service:counseling").value), "");
  EXPECT_TRUE(is_emergency_service_name("sos.animal-control"));
  EXPECT_FALSE(is_emergency_service_name("police"));
  EXPECT_FALSE(is_emergency_service_name("sos..x"));
}

}  // namespace
}  // namespace sipline::sip
