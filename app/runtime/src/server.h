// The HTTP server of one instance: cpp-httplib with its weak defaults
// replaced. Connections are served by our own keep-alive loop so that Nagle,
// keep-alive limits, time limits, draining and fairness are under our
// control rather than the library's compiled-in constants.
#ifndef MITOS_APP_RUNTIME_SERVER_H_
#define MITOS_APP_RUNTIME_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "mitos/http.h"
#include "mitos/status.h"

namespace mitos::internal {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8080;
  int threads_min = 8;            // worker threads started up front
  int threads_max = 512;          // one per open connection, at most
  int listen_backlog = 1024;
  int keep_alive_max_requests = 10000;
  int keep_alive_timeout_ms = 5000;  // idle time before a connection closes
  int read_timeout_ms = 5000;        // one read of a request
  int request_timeout_ms = 30000;    // receiving one whole request
  int write_timeout_ms = 5000;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 64 << 10;
};

class HttpServer {
 public:
  // Called for every request that passed the transport checks. It must
  // fill `res` and must not throw (a throw becomes a generic 500).
  using Dispatch = std::function<void(http::Request&, http::Response&)>;

  HttpServer(ServerOptions options, Dispatch dispatch);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens. Fails if the address is in use: no SO_REUSEPORT, so
  // a second instance can never silently share the port.
  Status Bind();
  // The bound port (useful with port 0). REQUIRES: Bind() succeeded.
  int port() const { return port_; }

  // Starts accepting on a background thread.
  void Start();

  // From now on every response closes its connection, so that clients move
  // to other instances while this one drains.
  void BeginDrain();

  // Stops accepting, lets in-flight requests finish, closes idle
  // connections, and joins every thread.
  void Stop();

  // Number of open client connections.
  int open_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace mitos::internal

#endif  // MITOS_APP_RUNTIME_SERVER_H_
