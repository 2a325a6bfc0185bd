// Fuzzes how the orders module decodes requests, through its routes on a
// real instance of orders and of the users module it needs (services and
// stores on temporary SQLite files, users bound in-process as in the
// monolith): the body of POST /orders, the paging parameters and user
// filter of GET /orders, and the ids in paths. The input is a request in
// the form that mitos_fuzzing/modules.h describes; users 1 and 2 exist.
//
// Every answer must be a well-formed one (mitos::fuzzing::CheckResponse),
// and a success must be what was asked for: a placed order has the user
// and the items sent, in order, and their total; a read or cancelled one
// the id in the path; a page at most `limit` orders, after `after`, in
// increasing id order, all of the user asked for.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mitos_fuzzing/modules.h"
#include "orders/module.h"
#include "users/module.h"

namespace {

using mitos::fuzzing::Fail;
using nlohmann::json;

// One instance for the whole run, stopped at exit.
mitos::fuzzing::Modules& Instance() {
  static mitos::fuzzing::Modules modules({users::Spec(), orders::Spec()});
  return modules;
}

void AddUsers() {
  for (const char* body : {R"({"name":"Ada","email":"ada@example.com"})",
                           R"({"name":"Grace","email":"grace@example.com"})"}) {
    mitos::http::Request req;
    req.method = "POST";
    req.path = req.target = "/users";
    req.headers = {{"Content-Type", "application/json"}};
    req.body = body;
    auto res = Instance().Serve(req);
    if (!res || res->status != 201) Fail("a user could not be created", req);
  }
}

void CheckPlaced(const mitos::http::Request& req,
                 const mitos::http::Response& res, const json& order) {
  json sent = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!sent.is_object()) Fail("an order placed without an object", req, &res);
  if (order["user_id"] != sent["user_id"]) {
    Fail("the order's user is not the one sent", req, &res);
  }
  const json& items = order["items"];
  if (!items.is_array() || items.size() != sent["items"].size()) {
    Fail("the order's items are not the ones sent", req, &res);
  }
  int64_t total = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const json& want = sent["items"][i];
    for (const char* f : {"sku", "quantity", "unit_price_cents"}) {
      if (items[i][f] != want[f]) {
        Fail("the order's items are not the ones sent", req, &res);
      }
    }
    total += want["quantity"].get<int64_t>() *
             want["unit_price_cents"].get<int64_t>();
  }
  if (order["total_cents"] != total) Fail("a wrong total", req, &res);
  if (order["status"] != "placed") Fail("a new order not placed", req, &res);
}

void CheckPage(const mitos::http::Request& req,
               const mitos::http::Response& res, const json& page) {
  const json& items = page["items"];
  if (!items.is_array()) Fail("a page without items", req, &res);
  int64_t limit = 20;
  int64_t after = 0;
  if (const std::string* v = req.Query("limit")) limit = std::stoll(*v);
  if (const std::string* v = req.Query("after")) after = std::stoll(*v);
  const std::string* user = req.Query("user_id");
  if (static_cast<int64_t>(items.size()) > limit) {
    Fail("a page longer than its limit", req, &res);
  }
  int64_t last = after;
  for (const json& o : items) {
    if (!o["id"].is_number_integer() || o["id"].get<int64_t>() <= last) {
      Fail("a page out of order or not after `after`", req, &res);
    }
    if (user != nullptr && o["user_id"] != std::stoll(*user)) {
      Fail("a page with another user's order", req, &res);
    }
    last = o["id"].get<int64_t>();
  }
  const json& next = page["next_after"];
  if (!next.is_null() && (items.empty() || next != last)) {
    Fail("next_after is not the page's last id", req, &res);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  AddUsers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto req = mitos::fuzzing::ParseInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  // The users routes are fuzz_users_decode's.
  if (!req || req->path.rfind("/orders", 0) != 0) return 0;
  auto res = Instance().Serve(*req);
  if (!res) return 0;  // no route: the runtime answers 404 or 405
  json body = mitos::fuzzing::CheckResponse(*req, *res);
  if (res->status != 200 && res->status != 201) return 0;
  if (req->route == "/orders") {
    if (req->method == "POST") {
      CheckPlaced(*req, *res, body);
    } else {
      CheckPage(*req, *res, body);
    }
  } else if (body["id"] != std::stoll(req->Param(0))) {
    Fail("the order is not the one in the path", *req, &*res);
  }
  if (req->route == "/orders/{id}/cancel" && body["status"] != "cancelled") {
    Fail("a cancelled order that is not cancelled", *req, &*res);
  }
  return 0;
}
