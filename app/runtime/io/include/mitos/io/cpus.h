// How many CPUs this process may keep busy, for the defaults that size
// thread counts by it (server.io_threads: 0, one event loop per CPU).
//
// std::thread::hardware_concurrency counts the machine's CPUs. In a
// container that is the node's: a pod limited to one CPU on a 64-core node
// would start 64 event loops, each also holding a database connection of
// its own. So the count is the CPUs of the process' affinity mask (what
// cpuset and taskset allow), lowered to the CPU quota of its cgroup when
// that allows less (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` over
// `cpu.cfs_period_us`, as Kubernetes sets them from a CPU limit), rounded
// up.
#ifndef MITOS_IO_CPUS_H_
#define MITOS_IO_CPUS_H_

#include <optional>
#include <string_view>

namespace mitos {

// The CPUs this process may use, as said above; at least 1. Reads
// /proc/self/cgroup and the cgroup file system on each call.
int UsableCpus();

// The CPUs a cgroup v2 `cpu.max` line allows ("150000 100000": 1.5), or
// nullopt for no limit ("max 100000") or a line that does not parse.
std::optional<double> CpuQuotaV2(std::string_view cpu_max);

// The same for cgroup v1: `cpu.cfs_quota_us` (-1: no limit) over
// `cpu.cfs_period_us`.
std::optional<double> CpuQuotaV1(std::string_view quota_us,
                                 std::string_view period_us);

// `affinity` CPUs, fewer when `quota` allows less (rounded up); at least 1.
int UsableCpus(int affinity, std::optional<double> quota);

}  // namespace mitos

#endif  // MITOS_IO_CPUS_H_
