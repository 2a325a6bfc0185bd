// The request parser against llhttp's request test cases (testdata/
// llhttp_requests.json; see its "source" for where they come from and
// their license). Each case holds the exact bytes of a connection's input,
// the verdict of a strict RFC 9112 parser, and this parser's own verdict,
// with the reason wherever the two differ.
//
// What is checked, for every case:
//  - the parser gives exactly its recorded verdict, so any change of
//    behaviour on third-party input shows up here and must be argued;
//  - where it differs from the strict verdict, the case says why;
//  - it never serves more requests than the strict parser before the point
//    where that one refuses the stream: what a strict parser refuses as
//    ambiguous, this one must not act on (request smuggling). The one
//    kind of exception, marked "not_framing", is a method token llhttp
//    does not know, which is a method all the same (RFC 9110 9.1);
//  - a head it is still waiting for where the strict parser refused early
//    is refused once it ends ("refused_once_complete").
//
// Cases that fail only for want of a Host field (many of llhttp's omit it)
// come again with one added, id suffixed "h", so that what they test is
// tested here too.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "mitos/http/request_parser.h"

namespace mitos::internal {
namespace {

// How the parser ends a connection's input, fed as the server feeds it:
// every complete request is taken, until an error, a request that closes
// the connection, or the end of the bytes.
struct Verdict {
  int n_ok = 0;
  std::string outcome;  // "error", "close", "end", "incomplete"
  int status = 0;       // for "error"
};

Verdict Feed(const std::string& raw) {
  RequestParser parser(RequestParser::Limits{});
  std::string in = raw;
  Verdict v;
  for (;;) {
    RequestParser::Result r = parser.Parse(in);
    if (r == RequestParser::Result::kError) {
      v.outcome = "error";
      v.status = parser.status();
      return v;
    }
    if (r == RequestParser::Result::kNeedMore) {
      v.outcome = (in.empty() && !parser.started()) ? "end" : "incomplete";
      return v;
    }
    ++v.n_ok;
    if (!parser.keep_alive()) {
      v.outcome = "close";
      return v;
    }
    parser.Reset();
  }
}

// The raw bytes are stored as latin-1 code points, one per byte.
std::string Bytes(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // Two-byte UTF-8 for U+0080..U+00FF.
      out += static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3F));
    }
  }
  return out;
}

nlohmann::json Load() {
  std::ifstream f(MITOS_HTTP_TESTDATA "/llhttp_requests.json");
  std::stringstream s;
  s << f.rdbuf();
  return nlohmann::json::parse(s.str());
}

// The same requests served, and the stream refused (or closed) where the
// strict parser refuses it, or not refused where it is not (waiting for
// more bytes included). A strict verdict that hands the connection over
// (CONNECT, Upgrade) is never matched: this parser serves plain HTTP only.
bool AgreesWithStrict(const Verdict& v, const nlohmann::json& strict) {
  if (strict.contains("handoff")) return false;
  const int n = strict.at("n_ok").get<int>();
  if (strict.at("error").is_null()) return v.n_ok == n && v.outcome != "error";
  return v.n_ok == n && (v.outcome == "error" || v.outcome == "close");
}

TEST(RequestParserCorpusTest, EveryLlhttpCaseGetsItsRecordedVerdict) {
  const nlohmann::json data = Load();
  const auto& cases = data.at("cases");
  ASSERT_GE(cases.size(), 100u);
  int agree = 0;
  for (const auto& c : cases) {
    const std::string id = c.at("id").get<std::string>() + " (" +
                           c.at("where").get<std::string>() + ")";
    const Verdict v = Feed(Bytes(c.at("raw").get<std::string>()));
    const auto& want = c.at("mitos");
    EXPECT_EQ(v.n_ok, want.at("n_ok").get<int>()) << id;
    EXPECT_EQ(v.outcome, want.at("outcome").get<std::string>()) << id;
    EXPECT_EQ(v.status, want.value("status", 0)) << id;
    const auto& strict = c.at("strict");
    if (AgreesWithStrict(v, strict)) {
      ++agree;
      EXPECT_FALSE(c.contains("differs")) << id << ": agrees with the strict verdict now";
    } else {
      EXPECT_FALSE(c.value("differs", "").empty()) << id << ": differs with no reason given";
    }
    if (!strict.at("error").is_null() && !c.contains("not_framing")) {
      EXPECT_LE(v.n_ok, strict.at("n_ok").get<int>())
          << id << ": served a request past where a strict parser refuses";
    }
    if (c.value("refused_once_complete", false)) {
      // Waiting for the end of a head the strict parser refuses early: once
      // the head ends, this one must refuse it too.
      const Verdict done = Feed(Bytes(c.at("raw").get<std::string>()) + "\r\n\r\n");
      EXPECT_EQ(done.outcome, "error") << id << " with its head ended";
      EXPECT_EQ(done.n_ok, 0) << id << " with its head ended";
    }
  }
  // Most of the corpus is plain agreement; a drop means a broad change.
  EXPECT_GE(agree, static_cast<int>(cases.size()) / 2);
}

}  // namespace
}  // namespace mitos::internal
