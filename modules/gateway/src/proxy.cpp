#include "proxy.h"

#include <array>

#include "mitos/base/context.h"

namespace gateway {
namespace {

using mitos::http::EqualsIgnoreCase;

// Names listed in a Connection header are hop-by-hop too.
bool ListedInConnection(const mitos::http::Request& req, std::string_view name) {
  std::string_view conn = req.Header("Connection");
  size_t i = 0;
  while (i < conn.size()) {
    size_t j = conn.find(',', i);
    if (j == std::string_view::npos) j = conn.size();
    std::string_view t = conn.substr(i, j - i);
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (!t.empty() && EqualsIgnoreCase(t, name)) return true;
    i = j + 1;
  }
  return false;
}

bool HasCrLf(std::string_view s) {
  return s.find('\r') != std::string_view::npos ||
         s.find('\n') != std::string_view::npos;
}

}  // namespace

bool IsHopByHop(std::string_view name) {
  // Compression is negotiated per hop: the gateway compresses for its
  // client itself, and the channel decodes what the remote sends.
  static constexpr std::array<std::string_view, 18> kNames = {
      "Accept-Encoding", "Content-Encoding",
      "Connection",      "Keep-Alive",        "Proxy-Connection",
      "Proxy-Authenticate", "Proxy-Authorization", "TE",
      "Trailer",         "Trailers",          "Transfer-Encoding",
      "Upgrade",         "Host",              "Content-Length",
      "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
      "Content-Type"};
  for (auto n : kNames) {
    if (EqualsIgnoreCase(n, name)) return true;
  }
  return false;
}

std::optional<mitos::remote::Request> UpstreamRequest(
    const mitos::http::Request& req, mitos::http::Response& res) {
  mitos::remote::Request up;
  up.method = req.method;
  up.target = req.target.empty() ? req.path : req.target;
  up.body = req.body;
  up.content_type = std::string(req.Header("Content-Type"));
  up.idempotent = req.method == "GET" || req.method == "HEAD";
  for (const auto& [k, v] : req.headers) {
    if (HasCrLf(k) || HasCrLf(v)) {
      mitos::http::WriteProblem(res, 400, "about:blank", "",
                                "A header value contains a line break.");
      return std::nullopt;
    }
    if (IsHopByHop(k) || ListedInConnection(req, k)) continue;
    // The channel sets the request's identity and deadline itself.
    if (EqualsIgnoreCase(k, "X-Request-Id") || EqualsIgnoreCase(k, "traceparent") ||
        EqualsIgnoreCase(k, "tracestate") ||
        EqualsIgnoreCase(k, "X-Mitos-Deadline-Ms")) {
      continue;
    }
    // Identity from outside never passes: the runtime verified the bearer
    // token here, and the channel's service token carries the caller on.
    if (EqualsIgnoreCase(k, "Authorization") ||
        EqualsIgnoreCase(k, mitos::kServiceTokenHeader)) {
      continue;
    }
    up.headers.emplace_back(k, v);
  }
  if (HasCrLf(up.target) || HasCrLf(up.content_type)) {
    mitos::http::WriteProblem(res, 400, "about:blank", "",
                              "The request target contains a line break.");
    return std::nullopt;
  }
  up.headers.emplace_back("X-Forwarded-For", req.remote_addr);
  up.headers.emplace_back("X-Forwarded-Proto", "http");
  std::string_view host = req.Header("Host");
  if (!host.empty()) up.headers.emplace_back("X-Forwarded-Host", std::string(host));
  return up;
}

void CopyResponse(const mitos::remote::Response& up,
                  mitos::http::Response& res) {
  res.status = up.status;
  res.body = up.body;
  for (const auto& [k, v] : up.headers) {
    if (EqualsIgnoreCase(k, "Content-Type")) {
      res.content_type = v;
      continue;
    }
    if (IsHopByHop(k) || EqualsIgnoreCase(k, "X-Request-Id")) continue;
    res.headers.emplace_back(k, v);
  }
}

}  // namespace gateway
