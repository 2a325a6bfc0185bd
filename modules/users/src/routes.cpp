#include "routes.h"

#include "mitos/validation.h"
#include "service.h"

namespace users {
namespace {

using mitos::http::Request;
using mitos::http::Response;

void NoSuchUser(Response& res, const std::string& raw_id) {
  mitos::http::WriteProblem(res, 404, "about:blank", "",
                            "User " + raw_id + " does not exist.");
}

// Reads {"name"?, "email"?}. On any error, collects the structural errors
// (unknown, missing, mistyped fields) and the rule errors of the fields that
// could be read, so that the client sees every problem at once.
bool ReadFields(const nlohmann::json& body, bool required, UserPatch* out,
                std::vector<mitos::FieldError>* errors) {
  mitos::ObjectValidator v(body);
  v.RejectUnknown({"name", "email"});
  out->name = v.String("name", required);
  out->email = v.String("email", required);
  if (v.ok()) return true;
  *errors = std::move(v.errors());
  for (auto& e : ValidatePatch(*out)) errors->push_back(std::move(e));
  return false;
}

void Invalid(Response& res, std::vector<mitos::FieldError> errors) {
  mitos::http::WriteStatus(
      res, mitos::Status::InvalidArgument("The user has invalid fields.",
                                          std::move(errors)));
}

void Reply(Response& res, int status, const mitos::StatusOr<User>& r) {
  if (!r.ok()) {
    mitos::http::WriteStatus(res, r.status());
    return;
  }
  std::string body;
  body.reserve(192);
  AppendJson(*r, body);
  res.JsonText(status, std::move(body));
}


}  // namespace

void RegisterRoutes(UsersApi& api, mitos::http::Router& router) {
  router.Add("users", "POST", "/users", [&api](const Request& req, Response& res) {
    auto body = mitos::http::ReadJsonObject(req, res);
    if (!body) return;
    UserPatch fields;
    std::vector<mitos::FieldError> errors;
    if (!ReadFields(*body, /*required=*/true, &fields, &errors)) {
      return Invalid(res, std::move(errors));
    }
    auto r = api.Create(NewUser{*fields.name, *fields.email});
    if (r.ok()) res.SetHeader("Location", "/users/" + std::to_string(r->id));
    Reply(res, 201, r);
  });

  router.Add("users", "GET", "/users", [&api](const Request& req, Response& res) {
    std::vector<mitos::FieldError> errors;
    auto limit = mitos::http::QueryNonNegative(req, "limit", kDefaultPageSize, &errors,
                          "must be an integer from 1 to 100");
    auto after = mitos::http::QueryNonNegative(req, "after", 0, &errors,
                          "must be a non-negative integer");
    if (limit && (*limit < 1 || *limit > kMaxPageSize)) {
      errors.push_back({"limit", "must be an integer from 1 to 100"});
    }
    if (!errors.empty()) {
      mitos::http::WriteStatus(
          res, mitos::Status::InvalidArgument("Invalid paging parameters.",
                                              std::move(errors)));
      return;
    }
    auto page = api.List(static_cast<int>(*limit), *after);
    if (!page.ok()) {
      mitos::http::WriteStatus(res, page.status());
      return;
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& u : page->items) items.push_back(ToJson(u));
    res.Json(200, {{"items", std::move(items)},
                   {"next_after", page->next_after
                                      ? nlohmann::json(*page->next_after)
                                      : nlohmann::json(nullptr)}});
  });

  router.Add("users", "GET", "/users/{id}",
             [&api](const Request& req, Response& res) {
               auto id = mitos::ParsePositiveId(req.Param(0));
               if (!id) return NoSuchUser(res, req.Param(0));
               Reply(res, 200, api.Get(*id));
             });

  router.Add("users", "PATCH", "/users/{id}",
             [&api](const Request& req, Response& res) {
               auto id = mitos::ParsePositiveId(req.Param(0));
               if (!id) return NoSuchUser(res, req.Param(0));
               auto body = mitos::http::ReadJsonObject(req, res);
               if (!body) return;
               UserPatch patch;
               std::vector<mitos::FieldError> errors;
               if (!ReadFields(*body, /*required=*/false, &patch, &errors)) {
                 return Invalid(res, std::move(errors));
               }
               Reply(res, 200, api.Update(*id, patch));
             });

  router.Add("users", "DELETE", "/users/{id}",
             [&api](const Request& req, Response& res) {
               auto id = mitos::ParsePositiveId(req.Param(0));
               if (!id) return NoSuchUser(res, req.Param(0));
               mitos::Status s = api.Remove(*id);
               if (!s.ok()) return mitos::http::WriteStatus(res, s);
               res.status = 204;
             });
}

}  // namespace users
