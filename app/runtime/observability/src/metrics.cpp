#include "mitos/observability/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mitos::metrics {
namespace {

std::atomic<bool> g_enabled{true};

void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
    out += std::to_string(static_cast<int64_t>(v));
  } else {
    // Plain decimals ("0.0005", not "5e-04") for the usual magnitudes.
    char buf[64];
    double a = std::fabs(v);
    auto r = a >= 1e-6 && a < 1e15
                 ? std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed)
                 : std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, r.ptr);
  }
}

void AppendEscaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string Key(std::initializer_list<std::string_view> values) {
  std::string k;
  for (auto v : values) {
    k += v;
    k += '\x1f';
  }
  return k;
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

bool Enabled() { return g_enabled.load(std::memory_order_relaxed); }
void SetEnabled(bool on) { g_enabled.store(on); }

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> b = {0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,    0.025,  0.05,  0.1,    0.25,
                                        0.5,     1,      2.5,   5,      10};
  return b;
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds),
      buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds->size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_->begin(), bounds_->end(), v) -
             bounds_->begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  if (v > 0) {
    sum_nanos_.fetch_add(static_cast<uint64_t>(v * 1e9),
                         std::memory_order_relaxed);
  }
}

uint64_t Histogram::cumulative(size_t i) const {
  uint64_t n = 0;
  for (size_t j = 0; j <= i && j <= bounds_->size(); ++j) {
    n += buckets_[j].load(std::memory_order_relaxed);
  }
  return n;
}

double Histogram::sum() const {
  return static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
}

Family::Family(std::string name, std::string help, Type type,
               std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void Family::AppendSeries(std::string& out, std::string_view suffix,
                          const std::vector<std::string>& labels,
                          const char* extra_name,
                          const std::string& extra_value, double value) const {
  out += name_;
  out += suffix;
  bool any = !labels.empty() || extra_name != nullptr;
  if (any) {
    out += '{';
    bool first = true;
    for (size_t i = 0; i < labels.size() && i < label_names_.size(); ++i) {
      if (!first) out += ',';
      first = false;
      out += label_names_[i];
      out += "=\"";
      AppendEscaped(out, labels[i], true);
      out += '"';
    }
    if (extra_name != nullptr) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  AppendNumber(out, value);
  out += '\n';
}

void Family::Expose(std::string& out) const {
  std::string body;
  if (type_ == Type::kHistogram) {
    ExposeHistograms(body);
  } else {
    std::vector<Sample> samples;
    Collect(samples);
    std::sort(samples.begin(), samples.end(),
              [](const Sample& a, const Sample& b) { return a.labels < b.labels; });
    for (const auto& s : samples) {
      AppendSeries(body, "", s.labels, nullptr, "", s.value);
    }
  }
  if (body.empty()) return;  // a family with no series yet
  out += "# HELP ";
  out += name_;
  out += ' ';
  AppendEscaped(out, help_, false);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += TypeName(type_);
  out += '\n';
  out += body;
}

template <typename T>
T& ChildFamily<T>::With(std::initializer_list<std::string_view> values) {
  std::string key = Key(values);
  {
    std::shared_lock lock(mu_);
    auto it = children_.find(key);
    if (it != children_.end()) return *it->second.second;
  }
  std::unique_lock lock(mu_);
  auto it = children_.find(key);
  if (it != children_.end()) return *it->second.second;
  std::vector<std::string> labels(values.begin(), values.end());
  std::unique_ptr<T> child;
  if constexpr (std::is_same_v<T, Histogram>) {
    child = std::make_unique<Histogram>(&LatencyBuckets());
  } else {
    child = std::make_unique<T>();
  }
  T& ref = *child;
  children_.emplace(std::move(key),
                    std::make_pair(std::move(labels), std::move(child)));
  return ref;
}

template <typename T>
void ChildFamily<T>::Collect(std::vector<Sample>& out) const {
  if constexpr (!std::is_same_v<T, Histogram>) {
    std::shared_lock lock(mu_);
    for (const auto& [k, v] : children_) {
      out.push_back({v.first, static_cast<double>(v.second->value())});
    }
  }
}

template <typename T>
void ChildFamily<T>::ExposeHistograms(std::string& out) const {
  if constexpr (std::is_same_v<T, Histogram>) {
    std::shared_lock lock(mu_);
    for (const auto& [k, v] : children_) {
      const Histogram& h = *v.second;
      // Read the buckets first and derive the count from them, so that a
      // scrape racing an Observe stays consistent (+Inf == count).
      const auto& b = h.bounds();
      uint64_t cum = 0;
      std::string le;
      for (size_t i = 0; i < b.size(); ++i) {
        cum = h.cumulative(i);
        le.clear();
        AppendNumber(le, b[i]);
        AppendSeries(out, "_bucket", v.first, "le", le, static_cast<double>(cum));
      }
      uint64_t total = h.count();
      AppendSeries(out, "_bucket", v.first, "le", "+Inf", static_cast<double>(total));
      AppendSeries(out, "_sum", v.first, nullptr, "", h.sum());
      AppendSeries(out, "_count", v.first, nullptr, "", static_cast<double>(total));
    }
  }
}

template class ChildFamily<Counter>;
template class ChildFamily<Gauge>;
template class ChildFamily<Histogram>;

uint64_t CallbackFamily::AddSource(Source source) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_id_++;
  sources_.emplace(id, std::move(source));
  return id;
}

void CallbackFamily::RemoveSource(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  sources_.erase(id);
}

void CallbackFamily::Collect(std::vector<Sample>& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, src] : sources_) {
    src([&out](std::vector<std::string> labels, double v) {
      out.push_back({std::move(labels), v});
    });
  }
}

SourceHandle& SourceHandle::operator=(SourceHandle&& o) noexcept {
  if (this != &o) {
    Reset();
    family_ = o.family_;
    id_ = o.id_;
    o.family_ = nullptr;
  }
  return *this;
}

void SourceHandle::Reset() {
  if (family_ != nullptr) family_->RemoveSource(id_);
  family_ = nullptr;
}

Registry& Registry::Default() {
  static Registry* r = new Registry();  // never destroyed: used until exit
  return *r;
}

template <typename F>
F& Registry::Get(const std::string& name, const std::string& help, Type type,
                 std::vector<std::string> labels, const char* kind) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    auto* f = dynamic_cast<F*>(it->second.first);
    if (f == nullptr || it->second.second != kind) {
      throw std::logic_error("metric " + name + " registered twice as " +
                             "different kinds");
    }
    return *f;
  }
  auto f = std::make_unique<F>(name, help, type, std::move(labels));
  F& ref = *f;
  by_name_.emplace(name, std::make_pair(f.get(), std::string(kind)));
  families_.push_back(std::move(f));
  return ref;
}

ChildFamily<Counter>& Registry::Counters(const std::string& name,
                                         const std::string& help,
                                         std::vector<std::string> labels) {
  return Get<ChildFamily<Counter>>(name, help, Type::kCounter, std::move(labels),
                                   "counter");
}

ChildFamily<Gauge>& Registry::Gauges(const std::string& name,
                                     const std::string& help,
                                     std::vector<std::string> labels) {
  return Get<ChildFamily<Gauge>>(name, help, Type::kGauge, std::move(labels),
                                 "gauge");
}

ChildFamily<Histogram>& Registry::Histograms(const std::string& name,
                                             const std::string& help,
                                             std::vector<std::string> labels) {
  return Get<ChildFamily<Histogram>>(name, help, Type::kHistogram,
                                     std::move(labels), "histogram");
}

CallbackFamily& Registry::Callbacks(const std::string& name,
                                    const std::string& help, Type type,
                                    std::vector<std::string> labels) {
  return Get<CallbackFamily>(name, help, type, std::move(labels),
                             type == Type::kCounter ? "callback counter"
                                                    : "callback gauge");
}

std::string Registry::Expose() const {
  std::string out;
  out.reserve(16 << 10);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) f->Expose(out);
  return out;
}

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time = 0;
  double threads = 0;
  double rss = 0;
  double vsize = 0;
};

double BootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return 0;
}

ProcStat ReadProcStat() {
  ProcStat p;
  std::string s;
  if (FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof(buf), f);
    std::fclose(f);
    s.assign(buf, n);
  }
  // The command name may hold spaces; fields resume after the last ')'.
  auto close = s.rfind(')');
  if (close == std::string::npos) return p;
  std::istringstream fields(s.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (fields >> tok) f.push_back(tok);
  // f[0] is field 3 (state); field N is f[N - 3].
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (f.size() > 21) {
    p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / tick;
    p.threads = std::stod(f[17]);
    static const double boot = BootTime();
    p.start_time = boot + std::stod(f[19]) / tick;
    p.vsize = std::stod(f[20]);
    p.rss = std::stod(f[21]) * page;
  }
  return p;
}

double OpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  double n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

}  // namespace

void RegisterProcessMetrics(const std::string& version, const std::string& commit) {
  static std::once_flag once;
  std::call_once(once, [&] {
    Registry& r = Registry::Default();
    auto add = [&r](const char* name, const char* help, Type type,
                    std::function<double()> fn) {
      r.Callbacks(name, help, type, {}).AddSource(
          [fn](const CallbackFamily::Emit& emit) { emit({}, fn()); });
    };
    add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
        Type::kCounter, [] { return ReadProcStat().cpu_seconds; });
    add("process_resident_memory_bytes", "Resident memory size in bytes.",
        Type::kGauge, [] { return ReadProcStat().rss; });
    add("process_virtual_memory_bytes", "Virtual memory size in bytes.",
        Type::kGauge, [] { return ReadProcStat().vsize; });
    add("process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", Type::kGauge,
        [] { return ReadProcStat().start_time; });
    add("process_open_fds", "Number of open file descriptors.", Type::kGauge,
        [] { return OpenFds(); });
    add("process_max_fds", "Maximum number of open file descriptors.",
        Type::kGauge, [] {
          rlimit rl{};
          getrlimit(RLIMIT_NOFILE, &rl);
          return static_cast<double>(rl.rlim_cur);
        });
    add("process_threads", "Number of OS threads in the process.", Type::kGauge,
        [] { return ReadProcStat().threads; });
    r.Callbacks("mitos_build_info",
                "The version and commit of this build; the value is always 1.",
                Type::kGauge, {"version", "commit"})
        .AddSource([version, commit](const CallbackFamily::Emit& emit) {
          emit({version, commit}, 1);
        });
  });
}

}  // namespace mitos::metrics
