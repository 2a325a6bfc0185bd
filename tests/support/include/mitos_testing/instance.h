// Helpers for tests that run a real instance: a temporary data directory, a
// Runtime on 127.0.0.1 and a free port, and a raw HTTP connection for the
// cases a well-behaved client library cannot send.
#ifndef MITOS_TESTING_INSTANCE_H_
#define MITOS_TESTING_INSTANCE_H_

#include <httplib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mitos/config/config.h"
#include "mitos/core/module.h"
#include "mitos/core/runtime.h"

namespace mitos::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A running instance of the given modules. Keys in `overrides` are applied
// as flags; by default the instance listens on 127.0.0.1 and a free port,
// keeps its data in `data_dir` (a TempDir of its own when empty), drains
// with no delay, and runs with auth off (override auth.mode to test it).
class TestInstance {
 public:
  TestInstance(std::vector<ModuleSpec> catalog,
               std::map<std::string, std::string> overrides = {},
               std::string data_dir = "");
  ~TestInstance();

  int port() const { return runtime_->port(); }
  // A client with keep-alive and short timeouts, bound to this instance.
  std::unique_ptr<httplib::Client> Client() const;
  void Shutdown();

 private:
  std::unique_ptr<TempDir> owned_dir_;
  std::vector<ModuleSpec> catalog_;
  config::Schema schema_;
  config::Config config_;
  std::unique_ptr<Runtime> runtime_;
  bool stopped_ = false;
};

// Returns the value of `series` (a metric's name and labels, as /metrics
// writes them: `name{label="value",...}`) on the instance's /metrics, or 0
// when the instance shows no such series. The instances of one process
// share its metrics: compare a value before and after.
double MetricValue(const TestInstance& instance, const std::string& series);

// The API of module `name` as the runtime hands it to a module that needs
// it: an instance of `catalog` (which holds `name`'s spec) and of a module
// "probe" that needs `name` and keeps what it is given. That is the
// module's own implementation when `name` runs in the instance, or its
// remote client when `overrides` run the probe alone ({"modules",
// "probe"}) and say where the module is ({"remotes.<name>.url", ...});
// observed either way, so the instance's metrics count the probe's calls
// (mitos_module_calls_total{caller="probe",...}).
template <typename Api>
class BoundApi {
 public:
  BoundApi(std::vector<ModuleSpec> catalog, const std::string& name,
           std::map<std::string, std::string> overrides = {},
           std::string data_dir = "")
      : slot_(std::make_shared<std::shared_ptr<Api>>()) {
    catalog.push_back(Probe(name, slot_));
    instance_ = std::make_unique<TestInstance>(
        std::move(catalog), std::move(overrides), std::move(data_dir));
    if (*slot_ == nullptr) throw std::runtime_error("no binding of " + name);
  }

  // Stays usable after the instance is gone.
  const std::shared_ptr<Api>& api() const { return *slot_; }
  TestInstance& instance() { return *instance_; }

 private:
  using Slot = std::shared_ptr<std::shared_ptr<Api>>;

  static ModuleSpec Probe(const std::string& name, Slot slot) {
    class ProbeModule : public Module {
     public:
      ProbeModule(std::string name, Slot slot)
          : name_(std::move(name)), slot_(std::move(slot)) {}
      Status Start(ModuleContext& ctx) override {
        *slot_ = ctx.Get<Api>(name_);
        return Status::Ok();
      }
      void RegisterRoutes(http::Router&) override {}
      void Stop() override {}

     private:
      std::string name_;
      Slot slot_;
    };
    ModuleSpec s;
    s.name = "probe";
    s.summary = "holds the binding of " + name;
    s.needs = {name};
    s.create = [name, slot](const config::Config&) {
      return std::make_unique<ProbeModule>(name, slot);
    };
    return s;
  }

  Slot slot_;
  std::unique_ptr<TestInstance> instance_;
};

// One TCP connection to 127.0.0.1:port for hand-written requests.
class RawConnection {
 public:
  // `receive_buffer` > 0 sets SO_RCVBUF before connecting: a small one
  // makes the server's writes wait for the client sooner.
  explicit RawConnection(int port, int receive_buffer = 0);
  ~RawConnection();
  bool ok() const { return fd_ >= 0; }
  // Sends all bytes; returns false on error.
  bool Send(const std::string& bytes);
  // Closes the sending side (the server reads end-of-stream); responses
  // can still be read.
  void FinishSending();
  // Reads one HTTP/1.1 response (headers and a Content-Length body; no
  // body when `head`, the response to a HEAD request). Returns "" if the
  // connection closed first or nothing came within `timeout_ms`.
  std::string ReadResponse(int timeout_ms = 5000, bool head = false);
  // Returns true iff the peer closed the connection within `timeout_ms`.
  bool ClosedByPeer(int timeout_ms = 5000);

 private:
  int fd_ = -1;
  std::string buf_;
};

// Returns the status code of a raw response, or 0.
int StatusOf(const std::string& raw_response);
// Returns the value of header `name` in a raw response, or "".
std::string HeaderOf(const std::string& raw_response, const std::string& name);
// Returns the body of a raw response.
std::string BodyOf(const std::string& raw_response);

}  // namespace mitos::testing

#endif  // MITOS_TESTING_INSTANCE_H_
