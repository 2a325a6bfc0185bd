#include "client.h"

namespace orders {
namespace {

using mitos::Status;
using mitos::StatusOr;
using mitos::remote::Request;
using mitos::remote::Response;

StatusOr<Order> DecodeOrder(const nlohmann::json& j) {
  try {
    Order o;
    o.id = j.at("id").get<int64_t>();
    o.user_id = j.at("user_id").get<int64_t>();
    for (const auto& it : j.at("items")) {
      o.items.push_back(Item{it.at("sku").get<std::string>(),
                             it.at("quantity").get<int64_t>(),
                             it.at("unit_price_cents").get<int64_t>()});
    }
    o.total_cents = j.at("total_cents").get<int64_t>();
    o.status = j.at("status").get<std::string>();
    o.created_at = j.at("created_at").get<std::string>();
    o.updated_at = j.at("updated_at").get<std::string>();
    return o;
  } catch (const std::exception&) {
    return Status::Internal("the orders service sent a malformed order");
  }
}

StatusOr<Order> OrderFrom(const StatusOr<Response>& r, int expected) {
  if (!r.ok()) return r.status();
  if (r->status != expected) return mitos::remote::StatusFromResponse(*r);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object()) {
    return Status::Internal("the orders service sent a malformed order");
  }
  return DecodeOrder(j);
}

}  // namespace

OrdersClient::OrdersClient(std::shared_ptr<mitos::remote::Channel> channel)
    : channel_(std::move(channel)) {}

StatusOr<Order> OrdersClient::Place(const NewOrder& in) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& it : in.items) {
    items.push_back({{"sku", it.sku},
                     {"quantity", it.quantity},
                     {"unit_price_cents", it.unit_price_cents}});
  }
  nlohmann::json body = {{"user_id", in.user_id}, {"items", items}};
  Request req{"POST", "/orders", body.dump(), "application/json", {},
              /*idempotent=*/false};
  return OrderFrom(channel_->Call(req), 201);
}

StatusOr<Order> OrdersClient::Get(int64_t id) {
  if (id <= 0) {
    return Status::NotFound("Order " + std::to_string(id) + " does not exist.");
  }
  Request req{"GET", "/orders/" + std::to_string(id), "", "", {},
              /*idempotent=*/true};
  return OrderFrom(channel_->Call(req), 200);
}

StatusOr<OrderPage> OrdersClient::List(std::optional<int64_t> user_id,
                                       int limit, int64_t after) {
  std::string target = "/orders?limit=" + std::to_string(limit) +
                       "&after=" + std::to_string(after);
  if (user_id) target += "&user_id=" + std::to_string(*user_id);
  auto r = channel_->Call(Request{"GET", target, "", "", {}, true});
  if (!r.ok()) return r.status();
  if (r->status != 200) return mitos::remote::StatusFromResponse(*r);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    return Status::Internal("the orders service sent a malformed page");
  }
  OrderPage page;
  for (const auto& item : j["items"]) {
    auto o = DecodeOrder(item);
    if (!o.ok()) return o.status();
    page.items.push_back(std::move(*o));
  }
  if (j.contains("next_after") && j["next_after"].is_number_integer()) {
    page.next_after = j["next_after"].get<int64_t>();
  }
  return page;
}

StatusOr<Order> OrdersClient::Cancel(int64_t id) {
  // Cancelling is idempotent by contract (cancelling again is harmless).
  Request req{"POST", "/orders/" + std::to_string(id) + "/cancel", "",
              "application/json", {}, /*idempotent=*/true};
  return OrderFrom(channel_->Call(req), 200);
}

}  // namespace orders
