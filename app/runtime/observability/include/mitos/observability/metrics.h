// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// A Registry holds metric families. A family has a name, a help text, a
// type and fixed label names; its children are the label value sets seen so
// far. Updating a child is a relaxed atomic add, so the hot path never takes
// a lock once it holds the child. Families whose values live elsewhere (a
// breaker's state, a file's size, the process's CPU time) are callback
// families: their sources are asked for samples at scrape time.
//
// Label values must come from small, fixed sets (module names, route
// templates, methods, status classes). Never use ids, raw paths or user
// data as label values: every distinct value is a time series forever.
#ifndef MITOS_OBSERVABILITY_METRICS_H_
#define MITOS_OBSERVABILITY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mitos::metrics {

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Cumulative buckets with fixed upper bounds, in base units (seconds).
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);
  // Returns the count of observations <= bounds[i] (cumulative), for
  // i < bounds.size(); i == bounds.size() gives the total count.
  uint64_t cumulative(size_t i) const;
  uint64_t count() const { return cumulative(bounds_->size()); }
  double sum() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // not cumulative
  std::atomic<uint64_t> sum_nanos_{0};  // sum * 1e9, so that adds are atomic
};

// Latency bounds in seconds, from 250 µs to 10 s.
const std::vector<double>& LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

class Family {
 public:
  Family(std::string name, std::string help, Type type,
         std::vector<std::string> label_names);
  virtual ~Family() = default;
  const std::string& name() const { return name_; }
  // Appends the family's HELP, TYPE and samples.
  void Expose(std::string& out) const;

 protected:
  struct Sample {
    std::vector<std::string> labels;  // one per label name
    double value;
  };
  // Appends the family's current values. Histograms expose themselves.
  virtual void Collect(std::vector<Sample>& out) const = 0;
  virtual void ExposeHistograms(std::string& out) const { (void)out; }
  void AppendSeries(std::string& out, std::string_view suffix,
                    const std::vector<std::string>& labels,
                    const char* extra_name, const std::string& extra_value,
                    double value) const;

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
};

// A family of counters, gauges or histograms updated by the code.
template <typename T>
class ChildFamily : public Family {
 public:
  using Family::Family;
  // Returns the child for these label values (one per label name),
  // creating it on first use. The reference stays valid for the life of
  // the registry; callers on hot paths may keep it.
  T& With(std::initializer_list<std::string_view> values);

 protected:
  void Collect(std::vector<Sample>& out) const override;
  void ExposeHistograms(std::string& out) const override;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::pair<std::vector<std::string>, std::unique_ptr<T>>,
           std::less<>>
      children_;
};

// A family whose samples are computed at scrape time by its sources.
class CallbackFamily : public Family {
 public:
  using Emit = std::function<void(std::vector<std::string> labels, double v)>;
  using Source = std::function<void(const Emit&)>;
  using Family::Family;
  // Adds a source; the returned id removes it. Sources may come and go
  // while the family is scraped.
  uint64_t AddSource(Source source);
  void RemoveSource(uint64_t id);

 protected:
  void Collect(std::vector<Sample>& out) const override;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Source> sources_;
};

class Registry {
 public:
  // The process-wide registry that /metrics exposes.
  static Registry& Default();

  // Each returns the family of that name, creating it on first use. A name
  // is registered with one type, help and label set; asking again with the
  // same name returns the same family (a mismatch is a programming error
  // and throws std::logic_error).
  ChildFamily<Counter>& Counters(const std::string& name, const std::string& help,
                                 std::vector<std::string> labels);
  ChildFamily<Gauge>& Gauges(const std::string& name, const std::string& help,
                             std::vector<std::string> labels);
  ChildFamily<Histogram>& Histograms(const std::string& name,
                                     const std::string& help,
                                     std::vector<std::string> labels);
  CallbackFamily& Callbacks(const std::string& name, const std::string& help,
                            Type type, std::vector<std::string> labels);

  // Returns every family in the text format, in registration order.
  std::string Expose() const;

 private:
  template <typename F>
  F& Get(const std::string& name, const std::string& help, Type type,
         std::vector<std::string> labels, const char* kind);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, std::pair<Family*, std::string>, std::less<>> by_name_;
};

// Removes a callback source when it goes out of scope.
class SourceHandle {
 public:
  SourceHandle() = default;
  SourceHandle(CallbackFamily* family, uint64_t id) : family_(family), id_(id) {}
  SourceHandle(SourceHandle&& o) noexcept { *this = std::move(o); }
  SourceHandle& operator=(SourceHandle&& o) noexcept;
  ~SourceHandle() { Reset(); }
  void Reset();

 private:
  CallbackFamily* family_ = nullptr;
  uint64_t id_ = 0;
};

// True unless metrics are switched off (metrics.enabled: false). When off,
// instrumented code skips its updates; /metrics still answers.
bool Enabled();
void SetEnabled(bool on);

// Registers the process metrics (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds, process_start_time_seconds,
// ...) and mitos_build_info. Idempotent.
void RegisterProcessMetrics(const std::string& version, const std::string& commit);

// The content type of the text format.
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace mitos::metrics

#endif  // MITOS_OBSERVABILITY_METRICS_H_
