#include "mitos_testing/instance.h"

#include "mitos/observability/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>

namespace mitos::testing {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("mitos-test-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter++) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

TestInstance::TestInstance(std::vector<ModuleSpec> catalog,
                           std::map<std::string, std::string> overrides,
                           std::string data_dir)
    : catalog_(std::move(catalog)) {
  if (data_dir.empty()) {
    owned_dir_ = std::make_unique<TempDir>();
    data_dir = owned_dir_->path().string();
  }
  log::Configure(log::Level::kWarn, log::Format::kJson);
  DeclareConfig(catalog_, &schema_);
  std::map<std::string, std::string> values = {
      {"server.host", "127.0.0.1"},
      {"server.port", "0"},
      {"server.threads_min", "2"},
      {"data_dir", data_dir},
      {"shutdown.drain_delay_ms", "0"},
      {"log.level", "warn"},
      // Module and HTTP tests are about the modules; who may call them is
      // tested where the runtime decides it (core's access tests, e2e).
      {"auth.mode", "off"},
  };
  for (auto& [k, v] : overrides) values[k] = v;
  config::Resolver r(schema_);
  for (const auto& [k, v] : values) r.Flag(k, v, "test " + k);
  config_ = r.Build();
  auto selected = SelectModules(catalog_, config_.List("modules"));
  if (!selected.ok()) throw std::runtime_error(selected.status().ToString());
  auto remotes = RemoteUrls(catalog_, config_, {});
  Status deps = CheckDependencies(*selected, remotes);
  if (!deps.ok()) throw std::runtime_error(deps.ToString());
  runtime_ = std::make_unique<Runtime>(config_, catalog_, *selected, remotes);
  Status s = runtime_->Start();
  if (!s.ok()) throw std::runtime_error(s.ToString());
}

TestInstance::~TestInstance() { Shutdown(); }

void TestInstance::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  runtime_->Shutdown();
}

std::unique_ptr<httplib::Client> TestInstance::Client() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port());
  c->set_keep_alive(true);
  c->set_connection_timeout(5);
  c->set_read_timeout(10);
  c->set_write_timeout(10);
  return c;
}

double MetricValue(const TestInstance& instance, const std::string& series) {
  auto r = instance.Client()->Get("/metrics");
  if (!r || r->status != 200) throw std::runtime_error("no /metrics");
  const std::string line = "\n" + series + " ";
  size_t at = r->body.find(line);
  if (at == std::string::npos) return 0;
  return std::stod(r->body.substr(at + line.size()));
}

RawConnection::RawConnection(int port, int receive_buffer) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (receive_buffer > 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off,
                       MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void RawConnection::FinishSending() { ::shutdown(fd_, SHUT_WR); }

std::string RawConnection::ReadResponse(int timeout_ms, bool head_only) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto head_end = buf_.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::string head = buf_.substr(0, head_end + 4);
      std::string cl = HeaderOf(head, "Content-Length");
      size_t len = (cl.empty() || head_only) ? 0 : std::stoul(cl);
      if (buf_.size() >= head_end + 4 + len) {
        std::string out = buf_.substr(0, head_end + 4 + len);
        buf_.erase(0, head_end + 4 + len);
        return out;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return "";
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return "";
    char tmp[8192];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return "";
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

bool RawConnection::ClosedByPeer(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char tmp[8192];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return true;  // orderly close or reset
  }
}

int StatusOf(const std::string& raw) {
  if (raw.size() < 12 || raw.compare(0, 5, "HTTP/") != 0) return 0;
  return std::atoi(raw.c_str() + 9);
}

std::string HeaderOf(const std::string& raw, const std::string& name) {
  size_t head_end = raw.find("\r\n\r\n");
  size_t pos = raw.find("\r\n");
  while (pos != std::string::npos && pos < head_end) {
    size_t next = raw.find("\r\n", pos + 2);
    std::string line = raw.substr(pos + 2, next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos &&
        strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 &&
        colon == name.size()) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
    pos = next;
  }
  return "";
}

std::string BodyOf(const std::string& raw) {
  size_t head_end = raw.find("\r\n\r\n");
  return head_end == std::string::npos ? "" : raw.substr(head_end + 4);
}

}  // namespace mitos::testing
