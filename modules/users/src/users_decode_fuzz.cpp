// Fuzzes how the users module decodes requests, through its routes on a
// real instance of the module (service and store on a temporary SQLite
// file): the bodies of POST /users and PATCH /users/{id}, the paging
// parameters of GET /users, and the ids in paths. The input is a request
// in the form that mitos_fuzzing/modules.h describes.
//
// Every answer must be a well-formed one (mitos::fuzzing::CheckResponse),
// and a success must be what was asked for: a written user has the name
// sent (trimmed) and the email sent, a read one the id in the path, and a
// page at most `limit` users, after `after`, in increasing id order.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "mitos/http/validation.h"
#include "mitos_fuzzing/modules.h"
#include "users/module.h"

namespace {

using mitos::fuzzing::Fail;
using nlohmann::json;

// One instance for the whole run, stopped at exit.
mitos::fuzzing::Modules& Instance() {
  static mitos::fuzzing::Modules modules({users::Spec()});
  return modules;
}

// Checks that `user` has the fields the body asked for.
void CheckWritten(const mitos::http::Request& req,
                  const mitos::http::Response& res, const json& user) {
  json sent = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!sent.is_object()) Fail("a write succeeded without an object", req, &res);
  if (!user["id"].is_number_integer() || user["id"].get<int64_t>() <= 0) {
    Fail("a user without a positive id", req, &res);
  }
  if (sent.contains("name") &&
      user["name"] !=
          std::string(mitos::TrimAscii(sent["name"].get<std::string>()))) {
    Fail("the user's name is not the one sent, trimmed", req, &res);
  }
  if (sent.contains("email") && user["email"] != sent["email"]) {
    Fail("the user's email is not the one sent", req, &res);
  }
}

void CheckPage(const mitos::http::Request& req,
               const mitos::http::Response& res, const json& page) {
  const json& items = page["items"];
  if (!items.is_array()) Fail("a page without items", req, &res);
  int64_t limit = 20;
  int64_t after = 0;
  if (const std::string* v = req.Query("limit")) limit = std::stoll(*v);
  if (const std::string* v = req.Query("after")) after = std::stoll(*v);
  if (static_cast<int64_t>(items.size()) > limit) {
    Fail("a page longer than its limit", req, &res);
  }
  int64_t last = after;
  for (const json& u : items) {
    if (!u["id"].is_number_integer() || u["id"].get<int64_t>() <= last) {
      Fail("a page out of order or not after `after`", req, &res);
    }
    last = u["id"].get<int64_t>();
  }
  const json& next = page["next_after"];
  if (!next.is_null() && (items.empty() || next != last)) {
    Fail("next_after is not the page's last id", req, &res);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Instance();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto req = mitos::fuzzing::ParseInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!req) return 0;
  auto res = Instance().Serve(*req);
  if (!res) return 0;  // no route: the runtime answers 404 or 405
  json body = mitos::fuzzing::CheckResponse(*req, *res);
  if (res->status != 200 && res->status != 201) return 0;
  if (req->method == "POST" || req->method == "PATCH") {
    CheckWritten(*req, *res, body);
  }
  if (req->method == "PATCH" || req->method == "GET" || req->method == "HEAD") {
    if (req->route == "/users/{id}" &&
        body["id"] != std::stoll(req->Param(0))) {
      Fail("the user is not the one in the path", *req, &*res);
    }
  }
  if (req->route == "/users") {
    if (req->method != "POST") CheckPage(*req, *res, body);
  }
  return 0;
}
