#include "mitos/base/json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace mitos {
namespace {

TEST(AppendJsonStringTest, EscapesLikeAJsonLibrary) {
  for (std::string s : {std::string(""), std::string("plain"),
                        std::string("quote\" back\\ slash/"),
                        std::string("ctl\n\r\t\b\f\x01\x1f end"),
                        std::string("utf8 é 日本")}) {
    std::string out;
    AppendJsonString(out, s);
    EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(), s) << out;
    EXPECT_EQ(out, nlohmann::json(s).dump());
  }
}

}  // namespace
}  // namespace mitos
