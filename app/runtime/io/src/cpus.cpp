#include "mitos/io/cpus.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace mitos {

namespace {

std::optional<int64_t> ParseInt(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The quota of this process' own cgroup, where /proc/self/cgroup places
// it; then the mount's root, which is the container's own cgroup when
// the runtime gives it a cgroup namespace.
std::optional<double> CgroupQuota() {
  auto self = ReadFile("/proc/self/cgroup");
  std::string v2_path, v1_path;
  if (self) {
    std::istringstream lines(*self);
    std::string line;
    while (std::getline(lines, line)) {
      // hierarchy-id:controllers:path
      const size_t a = line.find(':');
      const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
      if (b == std::string::npos) continue;
      const std::string controllers = line.substr(a + 1, b - a - 1);
      const std::string path = line.substr(b + 1);
      if (line.compare(0, a, "0") == 0 && controllers.empty()) {
        v2_path = path;
      } else {
        std::istringstream names(controllers);
        std::string name;
        while (std::getline(names, name, ',')) {
          if (name == "cpu") v1_path = path;
        }
      }
    }
  }
  for (const std::string& dir : {"/sys/fs/cgroup" + v2_path, std::string("/sys/fs/cgroup")}) {
    if (auto max = ReadFile(dir + "/cpu.max")) return CpuQuotaV2(*max);
  }
  for (const std::string mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
    for (const std::string& dir : {mount + v1_path, mount}) {
      auto quota = ReadFile(dir + "/cpu.cfs_quota_us");
      auto period = ReadFile(dir + "/cpu.cfs_period_us");
      if (quota && period) return CpuQuotaV1(*quota, *period);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> CpuQuotaV1(std::string_view quota_us,
                                 std::string_view period_us) {
  auto quota = ParseInt(quota_us);  // -1 and "max" are no limit
  auto period = ParseInt(period_us);
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::optional<double> CpuQuotaV2(std::string_view cpu_max) {
  const size_t space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  return CpuQuotaV1(cpu_max.substr(0, space), cpu_max.substr(space + 1));
}

int UsableCpus(int affinity, std::optional<double> quota) {
  int n = std::max(1, affinity);
  if (quota && *quota > 0) {
    // A little under a whole CPU more is still that CPU: 2.0001 is 2.
    const int allowed = static_cast<int>(std::ceil(*quota - 1e-3));
    n = std::min(n, std::max(1, allowed));
  }
  return n;
}

int UsableCpus() {
  int affinity = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) affinity = CPU_COUNT(&set);
  if (affinity <= 0) affinity = static_cast<int>(std::thread::hardware_concurrency());
  return UsableCpus(affinity, CgroupQuota());
}

}  // namespace mitos
