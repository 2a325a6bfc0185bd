// Assertions on RFC 9457 problem responses, shared by the HTTP tests of
// every module.
#ifndef MITOS_TESTING_PROBLEM_H_
#define MITOS_TESTING_PROBLEM_H_

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mitos::testing {

// Asserts that `r` is an application/problem+json response with `status`
// and the RFC 9457 members; returns the parsed problem ({} if no response).
inline nlohmann::json ExpectProblem(const httplib::Result& r, int status) {
  EXPECT_TRUE(r);
  if (!r) return {};
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");
  nlohmann::json p = nlohmann::json::parse(r->body);
  EXPECT_EQ(p["status"], status);
  EXPECT_TRUE(p["type"].is_string());
  EXPECT_TRUE(p["title"].is_string());
  EXPECT_TRUE(p["detail"].is_string());
  return p;
}

// Returns the `field` of every entry of a problem's `errors`, in order.
inline std::vector<std::string> ProblemFields(const nlohmann::json& problem) {
  std::vector<std::string> out;
  for (const auto& e : problem["errors"]) out.push_back(e["field"]);
  return out;
}

}  // namespace mitos::testing

#endif  // MITOS_TESTING_PROBLEM_H_
