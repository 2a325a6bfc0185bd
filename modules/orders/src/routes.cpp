#include "routes.h"

#include "mitos/http/validation.h"
#include "service.h"

namespace orders {
namespace {

using mitos::http::Done;
using mitos::http::Request;
using mitos::http::Response;

void NoSuchOrder(Response& res, const std::string& raw_id) {
  mitos::http::WriteProblem(res, 404, "about:blank", "",
                            "Order " + raw_id + " does not exist.");
}

void Check(std::vector<mitos::FieldError>* errors, std::string field,
           std::string message) {
  if (!message.empty()) errors->push_back({std::move(field), std::move(message)});
}

// Reads {"user_id", "items": [{"sku", "quantity", "unit_price_cents"}]}.
// On any structural error (unknown, missing or mistyped field, an item that
// is not an object) collects those errors plus the rule errors of the
// fields that could be read, so that the client sees every problem at once.
bool ReadOrder(const nlohmann::json& body, NewOrder* out,
               std::vector<mitos::FieldError>* errors) {
  mitos::ObjectValidator v(body);
  v.RejectUnknown({"user_id", "items"});
  auto user_id = v.Int("user_id", /*required=*/true);
  const nlohmann::json* items = v.Array("items", /*required=*/true);
  std::vector<mitos::FieldError> rules;
  if (user_id) {
    out->user_id = *user_id;
    Check(&rules, "user_id", CheckUserId(*user_id));
  }
  if (items != nullptr) {
    Check(&rules, "items", CheckItemCount(items->size()));
    for (size_t i = 0; i < items->size(); ++i) {
      const nlohmann::json& item = (*items)[i];
      std::string prefix = ItemPrefix(i);
      if (!item.is_object()) {
        v.AddError(prefix.substr(0, prefix.size() - 1), "must be an object");
        continue;
      }
      mitos::ObjectValidator iv(item, prefix);
      iv.RejectUnknown({"sku", "quantity", "unit_price_cents"});
      auto sku = iv.String("sku", true);
      auto quantity = iv.Int("quantity", true);
      auto price = iv.Int("unit_price_cents", true);
      if (sku) Check(&rules, prefix + "sku", CheckSku(*sku));
      if (quantity) Check(&rules, prefix + "quantity", CheckQuantity(*quantity));
      if (price) Check(&rules, prefix + "unit_price_cents", CheckUnitPrice(*price));
      for (auto& e : iv.errors()) v.errors().push_back(std::move(e));
      out->items.push_back(Item{sku.value_or(""), quantity.value_or(0),
                                price.value_or(0)});
    }
  }
  if (v.ok()) return true;
  *errors = std::move(v.errors());
  for (auto& e : rules) errors->push_back(std::move(e));
  return false;
}

void Reply(Response& res, int status, const mitos::StatusOr<Order>& r) {
  if (!r.ok()) {
    mitos::http::WriteStatus(res, r.status());
    return;
  }
  std::string body;
  body.reserve(256 + 64 * r->items.size());
  AppendJson(*r, body);
  res.JsonText(status, std::move(body));
}

// Hands `done` the answer to a write that returns the order: `status` and
// the order (with its Location when created), or the error.
Callback<Order> Answer(Done done, int status) {
  return [done = std::move(done), status](mitos::StatusOr<Order> r) {
    Response res;
    if (r.ok() && status == 201) {
      res.SetHeader("Location", "/orders/" + std::to_string(r->id));
    }
    Reply(res, status, r);
    done(std::move(res));
  };
}


}  // namespace

void RegisterRoutes(OrdersService& api, mitos::http::Router& router) {
  router.AddAsync("orders", "POST", "/orders",
                  [&api](const Request& req, Done done) {
                    Response res;
                    auto body = mitos::http::ReadJsonObject(req, res);
                    if (!body) return done(std::move(res));
                    NewOrder order;
                    std::vector<mitos::FieldError> errors;
                    if (!ReadOrder(*body, &order, &errors)) {
                      mitos::http::WriteStatus(
                          res, mitos::Status::InvalidArgument(
                                   "The order has invalid fields.",
                                   std::move(errors)));
                      return done(std::move(res));
                    }
                    api.PlaceAsync(order, Answer(std::move(done), 201));
                  });

  router.Add("orders", "GET", "/orders",
             [&api](const Request& req, Response& res) {
               std::vector<mitos::FieldError> errors;
               std::optional<int64_t> user_id;
               if (const std::string* raw = req.Query("user_id")) {
                 user_id = mitos::ParsePositiveId(*raw);
                 if (!user_id) {
                   errors.push_back({"user_id", "must be a positive integer"});
                 }
               }
               auto limit = mitos::http::QueryNonNegative(req, "limit", kDefaultPageSize, &errors,
                                     "must be an integer from 1 to 100");
               auto after = mitos::http::QueryNonNegative(req, "after", 0, &errors,
                                     "must be a non-negative integer");
               if (limit && (*limit < 1 || *limit > kMaxPageSize)) {
                 errors.push_back({"limit", "must be an integer from 1 to 100"});
               }
               if (!errors.empty()) {
                 mitos::http::WriteStatus(
                     res, mitos::Status::InvalidArgument(
                              "Invalid paging parameters.", std::move(errors)));
                 return;
               }
               auto page = api.List(user_id, static_cast<int>(*limit), *after);
               if (!page.ok()) {
                 mitos::http::WriteStatus(res, page.status());
                 return;
               }
               std::string body = "{\"items\":[";
               for (size_t i = 0; i < page->items.size(); ++i) {
                 if (i) body += ',';
                 AppendJson(page->items[i], body);
               }
               body += "],\"next_after\":";
               body += page->next_after ? std::to_string(*page->next_after)
                                        : "null";
               body += '}';
               res.JsonText(200, std::move(body));
             });

  router.Add("orders", "GET", "/orders/{id}",
             [&api](const Request& req, Response& res) {
               auto id = mitos::ParsePositiveId(req.Param(0));
               if (!id) return NoSuchOrder(res, req.Param(0));
               Reply(res, 200, api.Get(*id));
             });

  router.AddAsync("orders", "POST", "/orders/{id}/cancel",
                  [&api](const Request& req, Done done) {
                    Response res;
                    auto id = mitos::ParsePositiveId(req.Param(0));
                    if (!id) {
                      NoSuchOrder(res, req.Param(0));
                      return done(std::move(res));
                    }
                    api.CancelAsync(*id, Answer(std::move(done), 200));
                  });
}

}  // namespace orders
