// One keep-alive HTTP/1.1 client connection, used by one thread at a time.
//
// The library's client polls before every read and write and probes the
// socket before every request; on a virtual machine where a syscall costs
// microseconds that made a proxied request cost more than serving it. This
// connection sends a request in one send() and usually reads the answer in
// one recv(); timeouts are socket options, set only when they change.
#ifndef MITOS_HTTP_CLIENT_CONNECTION_H_
#define MITOS_HTTP_CLIENT_CONNECTION_H_

#include <chrono>
#include <memory>
#include <string>

#include "mitos/http/http.h"

namespace mitos::internal {

enum class ResponseParse { kNeedMore, kOk, kBroken };

// Parses one HTTP/1.1 response from the front of `buf` and, when it is
// complete, removes it from `buf`. `head`: the request was HEAD. `eof`: the
// peer has closed, so no more bytes will come. On kOk, `*keep_alive` says
// whether the connection may carry another request.
ResponseParse ParseResponse(std::string& buf, bool head, bool eof,
                            http::ClientResponse* out, bool* keep_alive);

class HttpConnection {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Outcome {
    kOk,
    kConnectFailed,  // nothing was sent
    kSendFailed,     // the peer closed before taking the request
    kTimeout,        // no complete answer within the timeout
    kBroken,         // closed or malformed after the request was sent
    kAborted,        // its pipelined connection failed for another call
  };

  // Connects to host:port within `timeout`. Returns nullptr on failure.
  static std::unique_ptr<HttpConnection> Connect(const std::string& host,
                                                 int port,
                                                 std::chrono::milliseconds timeout);
  // Starts connecting a non-blocking socket, for an event loop: the
  // socket turns writable when the connection is made or has failed
  // (SO_ERROR). Returns nullptr if no connect could be started.
  static std::unique_ptr<HttpConnection> ConnectNonBlocking(const std::string& host,
                                                            int port);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends `request` (a complete HTTP/1.1 message) and reads one response
  // into `out` within `timeout`. `head` says the request was HEAD (no body
  // follows the answer's headers).
  Outcome RoundTrip(const std::string& request, bool head,
                    std::chrono::milliseconds timeout, http::ClientResponse* out);

  // Returns true iff the connection can carry another request: the last
  // answer allowed keep-alive, and the peer has neither closed it nor sent
  // anything unasked.
  bool Reusable();

  // True iff the last answer allowed keep-alive (no probe of the socket).
  bool keep_alive() const { return keep_alive_; }
  Clock::time_point last_used() const { return last_used_; }

  // For an event loop that drives the socket itself.
  int fd() const { return fd_; }
  std::string& buffer() { return buf_; }
  bool* mutable_keep_alive() { return &keep_alive_; }
  void Touch() { last_used_ = Clock::now(); }

 private:
  explicit HttpConnection(int fd) : fd_(fd) {}
  bool SetTimeout(std::chrono::milliseconds t);
  // Reads more bytes into buf_; returns false on close, error or timeout.
  bool Fill(Clock::time_point deadline, bool* timed_out);
  Outcome ReadResponse(bool head, Clock::time_point deadline,
                       http::ClientResponse* out);

  int fd_;
  bool keep_alive_ = true;
  std::chrono::milliseconds timeout_set_{-1};
  std::string buf_;
  Clock::time_point last_used_ = Clock::now();
};

}  // namespace mitos::internal

#endif  // MITOS_HTTP_CLIENT_CONNECTION_H_
