// Fuzzes how the products module decodes requests, through the routes and
// the JSON codec that the build generates from its contract, on a real
// instance of the module (service and store on a temporary SQLite file):
// the body of POST /products, the paging parameters of GET /products, and
// the ids in paths. The input is a request in the form that
// mitos_fuzzing/modules.h describes.
//
// Every answer must be a well-formed one (mitos::fuzzing::CheckResponse),
// and a success must be what was asked for: a created product has the SKU,
// the name (trimmed) and the price sent, a read one the id in the path, and
// a page at most `limit` products, after `after`, in increasing id order.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mitos/http/validation.h"
#include "mitos_fuzzing/modules.h"
#include "products/module.h"

namespace {

using mitos::fuzzing::Fail;
using nlohmann::json;

// One instance for the whole run, stopped at exit.
mitos::fuzzing::Modules& Instance() {
  static mitos::fuzzing::Modules modules({products::Spec()});
  return modules;
}

void CheckCreated(const mitos::http::Request& req,
                  const mitos::http::Response& res, const json& product) {
  json sent = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!sent.is_object()) Fail("a product created without an object", req, &res);
  if (!product["id"].is_number_integer() || product["id"].get<int64_t>() <= 0) {
    Fail("a product without a positive id", req, &res);
  }
  if (product["sku"] != sent["sku"] ||
      product["price_cents"] != sent["price_cents"] ||
      product["name"] !=
          std::string(mitos::TrimAscii(sent["name"].get<std::string>()))) {
    Fail("the product is not the one sent", req, &res);
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
  for (const json& p : items) {
    if (!p["id"].is_number_integer() || p["id"].get<int64_t>() <= last) {
      Fail("a page out of order or not after `after`", req, &res);
    }
    last = p["id"].get<int64_t>();
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
  if (req->route == "/products") {
    if (req->method == "POST") {
      CheckCreated(*req, *res, body);
    } else {
      CheckPage(*req, *res, body);
    }
  } else if (body["id"] != std::stoll(req->Param(0))) {
    Fail("the product is not the one in the path", *req, &*res);
  }
  return 0;
}
