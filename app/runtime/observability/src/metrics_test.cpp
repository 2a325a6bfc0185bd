#include "mitos/observability/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace mitos::metrics {
namespace {

TEST(Metrics, CountersExposeHelpTypeAndEscapedLabels) {
  Registry r;
  auto& f = r.Counters("t_requests_total", "Requests.\nSecond line \\ here.",
                       {"route", "code"});
  f.With({"/a/{id}", "2xx"}).Inc();
  f.With({"/a/{id}", "2xx"}).Inc(2);
  f.With({"say \"hi\"\\\n", "5xx"}).Inc();
  EXPECT_EQ(r.Expose(),
            "# HELP t_requests_total Requests.\\nSecond line \\\\ here.\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{route=\"/a/{id}\",code=\"2xx\"} 3\n"
            "t_requests_total{route=\"say \\\"hi\\\"\\\\\\n\",code=\"5xx\"} 1\n");
}

TEST(Metrics, AFamilyWithoutSeriesIsNotExposed) {
  Registry r;
  r.Counters("t_unused_total", "Never incremented.", {"x"});
  EXPECT_EQ(r.Expose(), "");
}

TEST(Metrics, GaugesWithoutLabels) {
  Registry r;
  auto& g = r.Gauges("t_in_flight", "Now.", {}).With({});
  g.Add(3);
  g.Add(-1);
  EXPECT_EQ(r.Expose(), "# HELP t_in_flight Now.\n# TYPE t_in_flight gauge\nt_in_flight 2\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeAndEndWithInf) {
  Registry r;
  auto& h = r.Histograms("t_seconds", "Latency.", {"op"}).With({"read"});
  h.Observe(0.0001);  // first bucket (0.00025)
  h.Observe(0.0005);  // exactly a bound: counted in it (le is <=)
  h.Observe(0.003);   // 0.005
  h.Observe(30);      // only +Inf
  std::string text = r.Expose();
  EXPECT_NE(text.find("# TYPE t_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("t_seconds_bucket{op=\"read\",le=\"0.00025\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{op=\"read\",le=\"0.0005\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{op=\"read\",le=\"0.001\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{op=\"read\",le=\"0.005\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{op=\"read\",le=\"10\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_count{op=\"read\"} 4\n"), std::string::npos) << text;
  EXPECT_NEAR(h.sum(), 30.0036, 1e-6);
}

TEST(Metrics, CallbackSourcesComeAndGo) {
  Registry r;
  auto& f = r.Callbacks("t_breaker_state", "State.", Type::kGauge, {"remote"});
  {
    SourceHandle a(&f, f.AddSource([](const CallbackFamily::Emit& emit) {
      emit({"users"}, 1);
    }));
    SourceHandle b(&f, f.AddSource([](const CallbackFamily::Emit& emit) {
      emit({"orders"}, 0);
    }));
    EXPECT_EQ(r.Expose(),
              "# HELP t_breaker_state State.\n# TYPE t_breaker_state gauge\n"
              "t_breaker_state{remote=\"orders\"} 0\n"
              "t_breaker_state{remote=\"users\"} 1\n");
  }
  EXPECT_EQ(r.Expose(), "");
}

TEST(Metrics, OneNameIsOneKindOfFamily) {
  Registry r;
  auto& a = r.Counters("t_x_total", "X.", {"a"});
  EXPECT_EQ(&a, &r.Counters("t_x_total", "X.", {"a"}));
  EXPECT_THROW(r.Gauges("t_x_total", "X.", {"a"}), std::logic_error);
}

TEST(Metrics, ProcessMetricsReadTheRunningProcess) {
  RegisterProcessMetrics("1.2.3", "abc");
  std::string text = Registry::Default().Expose();
  EXPECT_NE(text.find("mitos_build_info{version=\"1.2.3\",commit=\"abc\"} 1\n"),
            std::string::npos);
  auto value = [&text](const std::string& name) {
    auto at = text.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name;
    return std::stod(text.substr(at + name.size() + 2));
  };
  EXPECT_GT(value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(value("process_open_fds"), 3);
  EXPECT_GE(value("process_threads"), 1);
  EXPECT_GT(value("process_start_time_seconds"), 1.6e9);
}

}  // namespace
}  // namespace mitos::metrics
