// The HTTP server of one instance: event loops on a few I/O threads own
// every connection (reading, parsing, writing, time limits), and a growing
// pool of worker threads runs the handlers that may block.
//
// A request is first offered to the I/O thread's handler (`Fast`), which
// may answer it at once, or start work that answers it later from the same
// loop (a proxied call, say). Requests it declines go to the worker pool.
// No connection ever holds a thread while it is idle.
//
// Under overload the server sheds: a request that waited too long for a
// worker (or, behind others read with it, for its event loop) is answered
// at once with a 503 problem (type urn:mitos:problem:overloaded) and
// Retry-After: 1, and its handler never runs. How long is too long is the
// adaptive rule of limits::Shedder. Health probes (/livez, /readyz) are
// never shed.
#ifndef MITOS_SERVER_SERVER_H_
#define MITOS_SERVER_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mitos/base/status.h"
#include "mitos/http/http.h"
#include "mitos/limits/shedder.h"

namespace mitos::internal {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8080;
  int io_threads = 0;             // event loops; 0: one per usable CPU (mitos/io/cpus.h)
  int threads_min = 8;            // worker threads started up front
  int threads_max = 512;          // workers for handlers that may block
  int listen_backlog = 1024;
  int keep_alive_max_requests = 10000;
  int keep_alive_timeout_ms = 5000;  // idle time before a connection closes
  int read_timeout_ms = 5000;        // one read of a request
  int request_timeout_ms = 30000;    // receiving one whole request
  int write_timeout_ms = 5000;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 64 << 10;  // request line, headers, trailers
  // After an answer that closes its connection, the server stops writing
  // but reads and drops what the client still sends (the rest of a body
  // it refused, say) for up to this long and this many bytes, then closes:
  // closing with unread bytes would reset the connection, and a client
  // still sending would lose the answer. 0 ms closes at once.
  int linger_timeout_ms = 5000;
  size_t linger_max_bytes = 16 << 20;
  // Load shedding on queue time. Each event loop, and the worker pool's
  // queue, applies these options on its own: the pool to the time from
  // the loop's read of a request to a worker taking it, a loop to the time
  // from learning that a connection had bytes to read (an event, or its
  // accept) to serving the request in them. A loop keeps the connections
  // it has not read yet in a queue, serves it a slice a round, oldest
  // first, and newest first once the oldest has waited past `target` (if
  // `max_queue_time` is set: past it the oldest are shed). A request
  // waiting for the answer of the one before it on its connection (HTTP/1.1
  // answers in order) waits for its client's choice, not for the server,
  // and that time does not count.
  limits::ShedderOptions shedding;
};

class HttpServer {
 public:
  class Impl;
  struct Exchange;

  // Answers one request, exactly once, from any thread. Copies share the
  // request: the first Send wins. If every copy is dropped unanswered, the
  // client gets a 500. The connection's event loop and the worker threads
  // write the answer themselves; any other thread (a database's writer,
  // say) hands it to the connection's loop.
  class Responder {
   public:
    Responder() = default;
    explicit Responder(std::shared_ptr<Exchange> e) : exchange_(std::move(e)) {}
    void Send(http::Response&& res) const;

   private:
    std::shared_ptr<Exchange> exchange_;
  };

  // Called on a worker thread for every request that passed the transport
  // checks and that `Fast` declined. It answers through the Responder, at
  // once or later from any thread; a throw becomes a generic 500.
  using Dispatch = std::function<void(http::Request&, const Responder&)>;
  // Called on the I/O thread first. Returns false to pass the request to
  // Dispatch; true if it answered or will answer through the Responder.
  // It must never block.
  using Fast = std::function<bool(http::Request&, const Responder&)>;

  HttpServer(ServerOptions options, Dispatch dispatch, Fast fast = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens. Fails if the address is in use: no SO_REUSEPORT, so
  // a second instance can never silently share the port.
  Status Bind();
  // The bound port (useful with port 0). REQUIRES: Bind() succeeded.
  int port() const { return port_; }

  // Starts the I/O threads, which begin accepting.
  void Start();

  // The event loops Start started (io_threads, or the CPUs this process
  // may use); 0 before.
  int event_loops() const;

  // From now on every response closes its connection, so that clients move
  // to other instances while this one drains.
  void BeginDrain();

  // Stops accepting, lets in-flight requests finish (answered or not, even
  // when their client has gone), closes idle and lingering connections,
  // and joins every thread.
  void Stop();

  // Number of open client connections.
  int open_connections() const;

  // Number of requests shed so far (also counted, by queue, in the metric
  // mitos_requests_shed_total).
  uint64_t requests_shed() const;

 private:
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// A Dispatch for a handler that fills its response before it returns.
HttpServer::Dispatch Synchronous(
    std::function<void(http::Request&, http::Response&)> handler);

}  // namespace mitos::internal

#endif  // MITOS_SERVER_SERVER_H_
