#include "client.h"

namespace users {
namespace {

using mitos::Status;
using mitos::StatusOr;
using mitos::remote::Request;
using mitos::remote::Response;

StatusOr<User> DecodeUser(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  try {
    if (!j.is_object()) throw std::runtime_error("not an object");
    return User{j.at("id").get<int64_t>(), j.at("name").get<std::string>(),
                j.at("email").get<std::string>(),
                j.at("created_at").get<std::string>(),
                j.at("updated_at").get<std::string>()};
  } catch (const std::exception&) {
    return Status::Internal("the users service sent a malformed user");
  }
}

// Returns the user of a response with `expected` status, or the error.
StatusOr<User> UserFrom(const StatusOr<Response>& r, int expected) {
  if (!r.ok()) return r.status();
  if (r->status != expected) return mitos::remote::StatusFromResponse(*r);
  return DecodeUser(r->body);
}

std::string Body(const std::optional<std::string>& name,
                 const std::optional<std::string>& email) {
  nlohmann::json j = nlohmann::json::object();
  if (name) j["name"] = *name;
  if (email) j["email"] = *email;
  return j.dump();
}

}  // namespace

UsersClient::UsersClient(std::shared_ptr<mitos::remote::Channel> channel)
    : channel_(std::move(channel)) {}

StatusOr<User> UsersClient::Create(const NewUser& u) {
  Request req{"POST", "/users", Body(u.name, u.email), "application/json", {},
              /*idempotent=*/false};
  return UserFrom(channel_->Call(req), 201);
}

StatusOr<User> UsersClient::Get(int64_t id) {
  if (id <= 0) {
    return Status::NotFound("User " + std::to_string(id) + " does not exist.");
  }
  Request req{"GET", "/users/" + std::to_string(id), "", "", {},
              /*idempotent=*/true};
  return UserFrom(channel_->Call(req), 200);
}

StatusOr<UserPage> UsersClient::List(int limit, int64_t after) {
  Request req{"GET",
              "/users?limit=" + std::to_string(limit) +
                  "&after=" + std::to_string(after),
              "", "", {}, /*idempotent=*/true};
  auto r = channel_->Call(req);
  if (!r.ok()) return r.status();
  if (r->status != 200) return mitos::remote::StatusFromResponse(*r);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    return Status::Internal("the users service sent a malformed page");
  }
  UserPage page;
  for (const auto& item : j["items"]) {
    auto u = DecodeUser(item.dump());
    if (!u.ok()) return u.status();
    page.items.push_back(std::move(*u));
  }
  if (j.contains("next_after") && j["next_after"].is_number_integer()) {
    page.next_after = j["next_after"].get<int64_t>();
  }
  return page;
}

StatusOr<User> UsersClient::Update(int64_t id, const UserPatch& p) {
  Request req{"PATCH", "/users/" + std::to_string(id), Body(p.name, p.email),
              "application/json", {}, /*idempotent=*/false};
  return UserFrom(channel_->Call(req), 200);
}

Status UsersClient::Remove(int64_t id) {
  Request req{"DELETE", "/users/" + std::to_string(id), "", "", {},
              /*idempotent=*/false};
  auto r = channel_->Call(req);
  if (!r.ok()) return r.status();
  if (r->status == 204) return Status::Ok();
  return mitos::remote::StatusFromResponse(*r);
}

}  // namespace users
