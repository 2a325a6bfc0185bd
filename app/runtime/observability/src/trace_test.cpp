#include "mitos/observability/trace.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <mutex>
#include <thread>
#include <vector>

namespace mitos::trace {
namespace {

using nlohmann::json;

constexpr const char* kTp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesAndFormatsVersion00) {
  SpanContext c;
  ASSERT_TRUE(ParseTraceparent(kTp, &c));
  EXPECT_EQ(c.TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c.SpanIdHex(), "00f067aa0ba902b7");
  EXPECT_TRUE(c.sampled);
  EXPECT_EQ(c.Traceparent(), kTp);
}

TEST(Traceparent, RejectsWhatTheW3CRejects) {
  SpanContext c;
  for (const char* bad : {
           "",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 + extra
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
       }) {
    EXPECT_FALSE(ParseTraceparent(bad, &c)) << bad;
  }
  // A later version may append fields; its first four are used.
  EXPECT_TRUE(ParseTraceparent(
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-later", &c));
  EXPECT_FALSE(c.sampled);
}

TEST(Span, ChildrenShareTheTraceAndTheCurrentSpanIsRestored) {
  StartTracer({});
  ASSERT_FALSE(Current().valid());
  SpanContext remote;
  ASSERT_TRUE(ParseTraceparent(kTp, &remote));
  {
    Span server("GET /x", Kind::kServer, remote);
    EXPECT_EQ(server.context().trace_id, remote.trace_id);
    EXPECT_NE(server.context().span_id, remote.span_id);
    EXPECT_EQ(Current().span_id, server.context().span_id);
    {
      Span child("users.Get", Kind::kClient);
      EXPECT_EQ(child.context().trace_id, remote.trace_id);
      EXPECT_EQ(Current().span_id, child.context().span_id);
    }
    EXPECT_EQ(Current().span_id, server.context().span_id);
  }
  EXPECT_FALSE(Current().valid());
}

TEST(Span, SamplingIsParentBased) {
  TracerOptions o;
  o.sample_ratio = 0.0;
  StartTracer(o);
  {
    Span root("new", Kind::kServer, SpanContext{});
    EXPECT_FALSE(root.context().sampled);
  }
  SpanContext sampled;
  ASSERT_TRUE(ParseTraceparent(kTp, &sampled));
  {
    Span follows("in", Kind::kServer, sampled);
    EXPECT_TRUE(follows.context().sampled);  // the parent decides
    Span child("c", Kind::kInternal);
    EXPECT_TRUE(child.context().sampled);
  }
  o.sample_ratio = 1.0;
  StartTracer(o);
  SpanContext unsampled = sampled;
  unsampled.sampled = false;
  Span follows("in", Kind::kServer, unsampled);
  EXPECT_FALSE(follows.context().sampled);
  StopTracer();
}

// An OTLP/HTTP receiver on a free port that keeps every request body.
class Collector {
 public:
  Collector() {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(json::parse(req.body));
      types_.push_back(req.get_header_value("Content-Type"));
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Collector() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces";
  }
  std::vector<json> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  std::vector<std::string> types() {
    std::lock_guard<std::mutex> lock(mu_);
    return types_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> bodies_;
  std::vector<std::string> types_;
};

TEST(Exporter, SendsOtlpJsonInBatchesWithParentLinks) {
  Collector collector;
  TracerOptions o;
  o.endpoint = collector.endpoint();
  o.service_name = "mitos-test";
  o.resource = {{"deployment.environment", "unit"}};
  o.batch_size = 2;
  o.export_interval = std::chrono::milliseconds(50);
  StartTracer(o);
  ExporterStats before = Stats();
  std::string parent_id, child_id;
  {
    Span server("POST /orders", Kind::kServer, SpanContext{});
    server.SetAttribute("http.response.status_code", int64_t{201});
    parent_id = server.context().SpanIdHex();
    {
      Span child("users.Get", Kind::kClient);
      child.SetAttribute("mitos.binding", "remote");
      child.SetError("unavailable");
      child_id = child.context().SpanIdHex();
    }
    Span db("orders.db write", Kind::kInternal);
  }
  StopTracer();  // sends what is queued
  EXPECT_EQ(Stats().exported - before.exported, 3u);
  std::vector<json> spans;
  for (const auto& body : collector.bodies()) {
    const json& rs = body.at("resourceSpans").at(0);
    json attrs = rs.at("resource").at("attributes");
    bool named = false, env = false;
    for (const auto& a : attrs) {
      named |= a["key"] == "service.name" && a["value"]["stringValue"] == "mitos-test";
      env |= a["key"] == "deployment.environment" && a["value"]["stringValue"] == "unit";
    }
    EXPECT_TRUE(named && env) << attrs;
    for (const auto& s : rs.at("scopeSpans").at(0).at("spans")) spans.push_back(s);
  }
  EXPECT_GE(collector.bodies().size(), 2u);  // batches of at most 2
  for (const auto& t : collector.types()) EXPECT_EQ(t, "application/json");
  ASSERT_EQ(spans.size(), 3u);
  for (const auto& s : spans) {
    if (s["name"] == "POST /orders") {
      EXPECT_FALSE(s.contains("parentSpanId"));
      EXPECT_EQ(s["kind"], 2);
      EXPECT_EQ(s["attributes"][0]["value"]["intValue"], "201");
    } else if (s["name"] == "users.Get") {
      EXPECT_EQ(s["parentSpanId"], parent_id);
      EXPECT_EQ(s["spanId"], child_id);
      EXPECT_EQ(s["kind"], 3);
      EXPECT_EQ(s["status"]["code"], 2);
    } else {
      EXPECT_EQ(s["parentSpanId"], parent_id);
      EXPECT_EQ(s["kind"], 1);
    }
    EXPECT_LE(std::stoull(s["startTimeUnixNano"].get<std::string>()),
              std::stoull(s["endTimeUnixNano"].get<std::string>()));
  }
}

TEST(Exporter, DropsAndCountsWhenTheCollectorIsDown) {
  // A port that was free a moment ago: nothing listens there.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  int dead_port = ntohs(a.sin_port);
  TracerOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(dead_port) + "/v1/traces";
  o.export_interval = std::chrono::milliseconds(10);
  StartTracer(o);
  ExporterStats before = Stats();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) Span s("x", Kind::kServer, SpanContext{});
  // Requests never wait for the exporter.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  StopTracer();
  EXPECT_EQ(Stats().dropped_export_failed - before.dropped_export_failed, 5u);
  EXPECT_EQ(Stats().exported, before.exported);
}

TEST(Exporter, AFullQueueDropsNewSpans) {
  Collector collector;
  TracerOptions o;
  o.endpoint = collector.endpoint();
  o.queue_size = 3;
  o.batch_size = 100;
  o.export_interval = std::chrono::hours(1);  // nothing leaves until Stop
  StartTracer(o);
  ExporterStats before = Stats();
  for (int i = 0; i < 10; ++i) Span s("x", Kind::kServer, SpanContext{});
  StopTracer();
  EXPECT_EQ(Stats().dropped_queue_full - before.dropped_queue_full, 7u);
  EXPECT_EQ(Stats().exported - before.exported, 3u);
}

TEST(OtelEnvironment, StandardVariablesAreHonoured) {
  TracerOptions o;
  std::string error;
  ASSERT_TRUE(ApplyOtelEnvironment(
      {{"OTEL_SERVICE_NAME", "shop"},
       {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod, team=a%2Cb"},
       {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
       {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
       {"OTEL_TRACES_SAMPLER_ARG", "0.25"}},
      &o, &error))
      << error;
  EXPECT_EQ(o.service_name, "shop");
  EXPECT_EQ(o.endpoint, "http://collector:4318/v1/traces");
  EXPECT_DOUBLE_EQ(o.sample_ratio, 0.25);
  ASSERT_EQ(o.resource.size(), 2u);
  EXPECT_EQ(o.resource[1], (std::pair<std::string, std::string>{"team", "a,b"}));

  TracerOptions t;
  ASSERT_TRUE(ApplyOtelEnvironment(
      {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"},
       {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:2/custom"},
       {"OTEL_SDK_DISABLED", "true"}},
      &t, &error));
  EXPECT_EQ(t.endpoint, "http://b:2/custom");
  EXPECT_FALSE(t.enabled);
}

TEST(OtelEnvironment, BadValuesAreNamed) {
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"OTEL_TRACES_SAMPLER", "jaeger_remote"},
           {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
           {"OTEL_RESOURCE_ATTRIBUTES", "novalue"}}) {
    TracerOptions o;
    std::string error;
    EXPECT_FALSE(ApplyOtelEnvironment({{k, v}}, &o, &error)) << k;
    EXPECT_NE(error.find(k), std::string::npos) << error;
  }
  TracerOptions o;
  std::string error;
  EXPECT_FALSE(ApplyOtelEnvironment({{"OTEL_TRACES_SAMPLER", "traceidratio"},
                                     {"OTEL_TRACES_SAMPLER_ARG", "1.5"}},
                                    &o, &error));
  EXPECT_NE(error.find("OTEL_TRACES_SAMPLER_ARG"), std::string::npos);
}

}  // namespace
}  // namespace mitos::trace
