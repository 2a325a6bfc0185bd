#include "routes.h"

#include "mitos/http/validation.h"
#include "service.h"

namespace users {
namespace {

using mitos::http::Done;
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

// Hands `done` the answer to a write that returns the user: `status` and
// the user (with its Location when created), or the error.
Callback<User> Answer(Done done, int status) {
  return [done = std::move(done), status](mitos::StatusOr<User> r) {
    Response res;
    if (r.ok() && status == 201) {
      res.SetHeader("Location", "/users/" + std::to_string(r->id));
    }
    Reply(res, status, r);
    done(std::move(res));
  };
}

// The user id in the path, or nullopt after answering 404 through `done`.
std::optional<int64_t> PathId(const Request& req, const Done& done) {
  auto id = mitos::ParsePositiveId(req.Param(0));
  if (!id) {
    Response res;
    NoSuchUser(res, req.Param(0));
    done(std::move(res));
  }
  return id;
}

}  // namespace

void RegisterRoutes(UsersService& api, mitos::http::Router& router) {
  router.AddAsync("users", "POST", "/users", [&api](const Request& req, Done done) {
    Response res;
    auto body = mitos::http::ReadJsonObject(req, res);
    if (!body) return done(std::move(res));
    UserPatch fields;
    std::vector<mitos::FieldError> errors;
    if (!ReadFields(*body, /*required=*/true, &fields, &errors)) {
      Invalid(res, std::move(errors));
      return done(std::move(res));
    }
    api.CreateAsync(NewUser{*fields.name, *fields.email}, Answer(std::move(done), 201));
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

  router.AddAsync("users", "PATCH", "/users/{id}", [&api](const Request& req, Done done) {
    auto id = PathId(req, done);
    if (!id) return;
    Response res;
    auto body = mitos::http::ReadJsonObject(req, res);
    if (!body) return done(std::move(res));
    UserPatch patch;
    std::vector<mitos::FieldError> errors;
    if (!ReadFields(*body, /*required=*/false, &patch, &errors)) {
      Invalid(res, std::move(errors));
      return done(std::move(res));
    }
    api.UpdateAsync(*id, patch, Answer(std::move(done), 200));
  });

  router.AddAsync("users", "DELETE", "/users/{id}", [&api](const Request& req, Done done) {
    auto id = PathId(req, done);
    if (!id) return;
    api.RemoveAsync(*id, [done = std::move(done)](mitos::Status s) {
      Response res;
      if (s.ok()) {
        res.status = 204;
      } else {
        mitos::http::WriteStatus(res, s);
      }
      done(std::move(res));
    });
  });
}

}  // namespace users
