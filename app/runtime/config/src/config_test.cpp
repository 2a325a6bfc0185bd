#include "mitos/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>

namespace mitos::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The schema every test resolves against.
Schema TestSchema() {
  Schema s;
  s.Int("server.port", 8080, 1, 65535, "TCP port.")
      .String("server.host", "127.0.0.1", "Bind address.")
      .Bool("server.tls", false, "Serve TLS.")
      .String("log.level", "info", "Log level.",
              {"debug", "info", "warn", "error"})
      .String("db.password", "", "Database password.", {}, /*secret=*/true)
      .String("api_token", "tok-default", "API token.", {}, /*secret=*/true)
      .List("modules", {"users"}, "Modules to load.")
      .Int("workers", 4, 1, 64, "Worker threads.");
  return s;
}

// Runs fn, which must throw ConfigError, and returns the error.
template <typename F>
ConfigError ExpectConfigError(F&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "expected ConfigError";
  return ConfigError("", "", "<none thrown>");
}

// ---------------------------------------------------------------- Schema

TEST(SchemaTest, DeclaresKeysWithTypesAndDefaults) {
  Schema s = TestSchema();
  const Key* port = s.Find("server.port");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->type, Type::kInt);
  EXPECT_EQ(std::get<int64_t>(port->default_value), 8080);
  EXPECT_EQ(port->min, 1);
  EXPECT_EQ(port->max, 65535);
  EXPECT_EQ(port->doc, "TCP port.");

  const Key* level = s.Find("log.level");
  ASSERT_NE(level, nullptr);
  EXPECT_EQ(level->type, Type::kString);
  EXPECT_THAT(level->choices, ElementsAre("debug", "info", "warn", "error"));
  EXPECT_FALSE(level->secret);

  const Key* pw = s.Find("db.password");
  ASSERT_NE(pw, nullptr);
  EXPECT_TRUE(pw->secret);

  const Key* mods = s.Find("modules");
  ASSERT_NE(mods, nullptr);
  EXPECT_EQ(mods->type, Type::kStringList);
  EXPECT_THAT(std::get<StringList>(mods->default_value), ElementsAre("users"));

  const Key* tls = s.Find("server.tls");
  ASSERT_NE(tls, nullptr);
  EXPECT_EQ(tls->type, Type::kBool);

  EXPECT_EQ(s.Find("server"), nullptr);
  EXPECT_EQ(s.Find("server.nope"), nullptr);
  EXPECT_EQ(s.keys().size(), 8u);
}

TEST(SchemaTest, DuplicateKeyThrowsLogicError) {
  Schema s;
  s.Int("server.port", 1, 0, 10, "x");
  EXPECT_THROW(s.Int("server.port", 2, 0, 10, "y"), std::logic_error);
  // A duplicate of another type is also a duplicate.
  EXPECT_THROW(s.String("server.port", "x", "y"), std::logic_error);
  EXPECT_THROW(s.Bool("server.port", true, "y"), std::logic_error);
  EXPECT_THROW(s.List("server.port", {}, "y"), std::logic_error);
  EXPECT_EQ(s.keys().size(), 1u);
}

TEST(SchemaTest, IsSection) {
  Schema s = TestSchema();
  EXPECT_TRUE(s.IsSection("server"));
  EXPECT_TRUE(s.IsSection("log"));
  EXPECT_FALSE(s.IsSection("serv"));  // prefix of a section, not a section
  EXPECT_FALSE(s.IsSection("server.port"));
  EXPECT_FALSE(s.IsSection("modules"));
  EXPECT_FALSE(s.IsSection("nope"));
}

// ------------------------------------------------------------ Layering

TEST(ResolverTest, DefaultsWhenNothingIsSet) {
  Schema s = TestSchema();
  Config c = Resolver(s).Build();
  EXPECT_EQ(c.Int("server.port"), 8080);
  EXPECT_EQ(c.String("server.host"), "127.0.0.1");
  EXPECT_FALSE(c.Bool("server.tls"));
  EXPECT_THAT(c.List("modules"), ElementsAre("users"));
  EXPECT_EQ(c.OriginOf("server.port").kind, Origin::kDefault);
  EXPECT_EQ(c.OriginOf("server.port").where, "");
}

TEST(ResolverTest, PrecedenceFlagsOverEnvOverFileOverDefaults) {
  Schema s = TestSchema();
  Resolver r(s);
  r.Text(
      "server:\n"
      "  port: 9000\n"
      "  host: 0.0.0.0\n"
      "workers: 8\n",
      "mitos.yaml");
  r.Env({{"MITOS_SERVER__PORT", "9100"}, {"MITOS_WORKERS", "16"}});
  r.Flag("server.port", "9200", "--port");
  Config c = r.Build();

  // Flag beats env and file.
  EXPECT_EQ(c.Int("server.port"), 9200);
  EXPECT_EQ(c.OriginOf("server.port").kind, Origin::kFlag);
  EXPECT_EQ(c.OriginOf("server.port").where, "--port");

  // Env beats file.
  EXPECT_EQ(c.Int("workers"), 16);
  EXPECT_EQ(c.OriginOf("workers").kind, Origin::kEnv);
  EXPECT_EQ(c.OriginOf("workers").where, "MITOS_WORKERS");

  // File beats default.
  EXPECT_EQ(c.String("server.host"), "0.0.0.0");
  EXPECT_EQ(c.OriginOf("server.host").kind, Origin::kFile);
  EXPECT_EQ(c.OriginOf("server.host").where, "mitos.yaml:3:9");

  // Untouched keys keep the default.
  EXPECT_EQ(c.String("log.level"), "info");
  EXPECT_EQ(c.OriginOf("log.level").kind, Origin::kDefault);
}

TEST(ResolverTest, FileOriginNamesLineAndColumnOfValue) {
  Schema s = TestSchema();
  Config c = Resolver(s)
                 .Text("# comment\nserver:\n  port:   9090\n", "cfg.yaml")
                 .Build();
  EXPECT_EQ(c.Int("server.port"), 9090);
  EXPECT_EQ(c.OriginOf("server.port").where, "cfg.yaml:3:11");
}

// A unique temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("mitos_config_test_" + std::to_string(::getpid()) + "_" +
               std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(ResolverTest, LoadsRealYamlFile) {
  TempDir dir;
  std::filesystem::path file = dir.path() / "mitos.yaml";
  {
    std::ofstream out(file);
    out << "server:\n"
           "  port: 7000\n"
           "  tls: true\n"
           "log:\n"
           "  level: debug\n"
           "modules:\n"
           "  - users\n"
           "  - orders\n";
  }
  Schema s = TestSchema();
  Config c = Resolver(s).File(file.string()).Build();

  EXPECT_EQ(c.Int("server.port"), 7000);
  EXPECT_TRUE(c.Bool("server.tls"));
  EXPECT_EQ(c.String("log.level"), "debug");
  EXPECT_THAT(c.List("modules"), ElementsAre("users", "orders"));
  EXPECT_EQ(c.OriginOf("server.port").kind, Origin::kFile);
  EXPECT_EQ(c.OriginOf("server.port").where, file.string() + ":2:9");
  EXPECT_EQ(c.OriginOf("log.level").where, file.string() + ":5:10");
}

TEST(ResolverTest, MissingFileIsAnError) {
  Schema s = TestSchema();
  TempDir dir;
  std::string path = (dir.path() / "absent.yaml").string();
  ConfigError e = ExpectConfigError([&] { Resolver(s).File(path); });
  EXPECT_THAT(e.what(), HasSubstr(path));
  EXPECT_EQ(e.where(), path);
}

TEST(ResolverTest, EmptyFileMeansNoValues) {
  Schema s = TestSchema();
  Config c = Resolver(s).Text("", "empty.yaml").Build();
  EXPECT_EQ(c.Int("server.port"), 8080);
  EXPECT_EQ(c.OriginOf("server.port").kind, Origin::kDefault);
}

TEST(ResolverTest, EmptySectionIsAllowed) {
  Schema s = TestSchema();
  Config c = Resolver(s).Text("server:\n", "f.yaml").Build();
  EXPECT_EQ(c.Int("server.port"), 8080);
}

// ------------------------------------------------------- Bad file values

TEST(ResolverErrorTest, UnknownTopLevelKey) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  port: 1\nbogus: 3\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "bogus");
  EXPECT_EQ(e.where(), "f.yaml:3:1");
  EXPECT_THAT(e.what(), HasSubstr("bogus"));
  EXPECT_THAT(e.what(), HasSubstr("unknown key"));
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:3:1"));
}

TEST(ResolverErrorTest, UnknownNestedKey) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  port: 1\n  prot: 2\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server.prot");
  EXPECT_THAT(e.what(), HasSubstr("server.prot"));
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:3:3"));
}

TEST(ResolverErrorTest, StringForInt) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  port: http\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server.port");
  EXPECT_THAT(e.what(), HasSubstr("server.port"));
  EXPECT_THAT(e.what(), HasSubstr("integer"));
  EXPECT_THAT(e.what(), HasSubstr("\"http\""));
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:2:9"));
}

TEST(ResolverErrorTest, MalformedIntegers) {
  Schema s = TestSchema();
  for (const char* v : {"1.5", "8080x", "0x10", "\"\"", "1-2", "--1", "1e3",
                        "99999999999999999999"}) {
    std::string yaml = std::string("workers: ") + v + "\n";
    ConfigError e =
        ExpectConfigError([&] { Resolver(s).Text(yaml, "f.yaml"); });
    EXPECT_EQ(e.key(), "workers") << v;
    EXPECT_THAT(e.what(), HasSubstr("f.yaml:1:10")) << v;
  }
}

TEST(ResolverErrorTest, QuotedStringForInt) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  port: \"8080\"\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server.port");
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:2:9"));
}

TEST(ResolverErrorTest, ListForScalar) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  port: [1, 2]\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server.port");
  EXPECT_THAT(e.what(), HasSubstr("server.port"));
  EXPECT_THAT(e.what(), HasSubstr("integer"));
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:2:9"));
}

TEST(ResolverErrorTest, MappingForScalar) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  host:\n    name: x\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server.host");
  EXPECT_THAT(e.what(), HasSubstr("server.host"));
  EXPECT_THAT(e.what(), HasSubstr("string"));
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:3:5"));
}

TEST(ResolverErrorTest, NullForScalar) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  port: ~\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server.port");
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:2"));
}

TEST(ResolverErrorTest, ScalarForSection) {
  Schema s = TestSchema();
  ConfigError e =
      ExpectConfigError([&] { Resolver(s).Text("server: 80\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server");
  EXPECT_THAT(e.what(), HasSubstr("mapping"));
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:1:9"));
}

TEST(ResolverErrorTest, OutOfRangeInt) {
  Schema s = TestSchema();
  for (const char* v : {"0", "65536", "-1"}) {
    std::string yaml = std::string("server:\n  port: ") + v + "\n";
    ConfigError e =
        ExpectConfigError([&] { Resolver(s).Text(yaml, "f.yaml"); });
    EXPECT_EQ(e.key(), "server.port") << v;
    EXPECT_THAT(e.what(), HasSubstr("between 1 and 65535")) << v;
    EXPECT_THAT(e.what(), HasSubstr(v)) << v;
    EXPECT_THAT(e.what(), HasSubstr("f.yaml:2:9")) << v;
  }
}

TEST(ResolverTest, IntRangeIsInclusive) {
  Schema s = TestSchema();
  EXPECT_EQ(
      Resolver(s).Text("server: {port: 1}", "f").Build().Int("server.port"), 1);
  EXPECT_EQ(
      Resolver(s).Text("server: {port: 65535}", "f").Build().Int("server.port"),
      65535);
}

TEST(ResolverErrorTest, BadBool) {
  Schema s = TestSchema();
  for (const char* v : {"yes", "1", "on", "truee", "\"\""}) {
    std::string yaml = std::string("server:\n  tls: ") + v + "\n";
    ConfigError e =
        ExpectConfigError([&] { Resolver(s).Text(yaml, "f.yaml"); });
    EXPECT_EQ(e.key(), "server.tls") << v;
    EXPECT_THAT(e.what(), HasSubstr("boolean")) << v;
    EXPECT_THAT(e.what(), HasSubstr("f.yaml:2:8")) << v;
  }
}

TEST(ResolverTest, BoolAcceptsTrueAndFalseInAnyCase) {
  Schema s = TestSchema();
  EXPECT_TRUE(
      Resolver(s).Text("server: {tls: true}", "f").Build().Bool("server.tls"));
  EXPECT_TRUE(
      Resolver(s).Text("server: {tls: True}", "f").Build().Bool("server.tls"));
  EXPECT_FALSE(Resolver(s)
                   .Flag("server.tls", "FALSE", "--tls")
                   .Build()
                   .Bool("server.tls"));
}

TEST(ResolverErrorTest, StringNotInChoices) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("log:\n  level: verbose\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "log.level");
  EXPECT_THAT(e.what(), HasSubstr("log.level"));
  EXPECT_THAT(e.what(), HasSubstr("debug, info, warn, error"));
  EXPECT_THAT(e.what(), HasSubstr("\"verbose\""));
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:2:10"));
}

TEST(ResolverErrorTest, ChoicesAreCaseSensitive) {
  Schema s = TestSchema();
  ExpectConfigError([&] { Resolver(s).Flag("log.level", "INFO", "--log"); });
}

TEST(ResolverErrorTest, InvalidYamlSyntaxNamesFileAndLine) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError([&] {
    Resolver(s).Text("server:\n  port: 1\n  host: [a, b\n", "bad.yaml");
  });
  EXPECT_THAT(e.what(), HasSubstr("invalid YAML"));
  EXPECT_THAT(e.where(), HasSubstr("bad.yaml:"));
  EXPECT_THAT(e.what(), HasSubstr("bad.yaml:"));
  // The mark's line number follows the file name.
  std::string where = e.where();
  ASSERT_GT(where.size(), std::string("bad.yaml:").size());
  EXPECT_TRUE(std::isdigit(
      static_cast<unsigned char>(where[std::string("bad.yaml:").size()])))
      << where;
}

TEST(ResolverErrorTest, InvalidYamlReportsTheOffendingLine) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError([&] {
    Resolver(s).Text("server:\n  port: 1\n   host: x\n  tls: true\n",
                     "bad.yaml");
  });
  EXPECT_THAT(e.what(), HasSubstr("invalid YAML"));
  EXPECT_THAT(e.where(), testing::MatchesRegex("bad\\.yaml:3:[0-9]+"));
}

TEST(ResolverErrorTest, InvalidYamlInRealFileNamesThePath) {
  TempDir dir;
  std::filesystem::path file = dir.path() / "broken.yaml";
  {
    std::ofstream out(file);
    out << "server:\n  port: 1\n   host: x\n";  // bad indentation
  }
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError([&] { Resolver(s).File(file.string()); });
  EXPECT_THAT(e.what(), HasSubstr("invalid YAML"));
  EXPECT_THAT(e.where(), testing::StartsWith(file.string() + ":3:"));
  EXPECT_THAT(e.what(), HasSubstr(file.string() + ":3:"));
}

TEST(ResolverErrorTest, TopLevelNotAMapping) {
  Schema s = TestSchema();
  for (const char* yaml : {"- a\n- b\n", "just a string\n", "42\n"}) {
    ConfigError e =
        ExpectConfigError([&] { Resolver(s).Text(yaml, "top.yaml"); });
    EXPECT_THAT(e.what(), HasSubstr("top level")) << yaml;
    EXPECT_THAT(e.what(), HasSubstr("top.yaml:1:1")) << yaml;
  }
}

TEST(ResolverErrorTest, ListItemsMustBeScalars) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("modules:\n  - users\n  - {a: 1}\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "modules");
  EXPECT_THAT(e.what(), HasSubstr("f.yaml:3:5"));
}

TEST(ResolverErrorTest, MappingForList) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("modules:\n  a: 1\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "modules");
  EXPECT_THAT(e.what(), HasSubstr("list of strings"));
}

// ----------------------------------------------------------- Environment

TEST(ResolverEnvTest, MapsNestedVariableToKeyPath) {
  Schema s = TestSchema();
  Config c = Resolver(s)
                 .Env({{"MITOS_SERVER__PORT", "9999"},
                       {"MITOS_LOG__LEVEL", "warn"},
                       {"MITOS_SERVER__TLS", "true"}})
                 .Build();
  EXPECT_EQ(c.Int("server.port"), 9999);
  EXPECT_EQ(c.OriginOf("server.port").kind, Origin::kEnv);
  EXPECT_EQ(c.OriginOf("server.port").where, "MITOS_SERVER__PORT");
  EXPECT_EQ(c.String("log.level"), "warn");
  EXPECT_TRUE(c.Bool("server.tls"));
}

TEST(ResolverEnvTest, TopLevelVariableWithoutSeparator) {
  Schema s = TestSchema();
  Config c = Resolver(s).Env({{"MITOS_API_TOKEN", "s3cret"}}).Build();
  EXPECT_EQ(c.String("api_token"), "s3cret");
  EXPECT_EQ(c.OriginOf("api_token").kind, Origin::kEnv);
}

TEST(ResolverEnvTest, IgnoresVariablesThatAreNotOurs) {
  Schema s = TestSchema();
  Config c = Resolver(s)
                 .Env({{"PATH", "/usr/bin"},
                       {"SERVER__PORT", "1"},
                       {"MITOSX_SERVER__PORT", "2"},
                       {"MITOS_USERS_SERVICE_HOST", "10.0.0.1"},
                       {"MITOS_USERS_SERVICE_PORT", "80"}})
                 .Build();
  EXPECT_EQ(c.Int("server.port"), 8080);
  EXPECT_EQ(c.OriginOf("server.port").kind, Origin::kDefault);
}

TEST(ResolverEnvTest, UnknownNestedVariableIsAnError) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError([&] {
    Resolver(s).Env({{"MITOS_SERVER__PROT", "1"}});
  });
  EXPECT_EQ(e.key(), "server.prot");
  EXPECT_THAT(e.what(), HasSubstr("server.prot"));
  EXPECT_THAT(e.what(), HasSubstr("unknown key"));
  EXPECT_THAT(e.what(), HasSubstr("MITOS_SERVER__PROT"));
}

TEST(ResolverEnvTest, BadValueNamesVariable) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError([&] {
    Resolver(s).Env({{"MITOS_SERVER__PORT", "70000"}});
  });
  EXPECT_EQ(e.key(), "server.port");
  EXPECT_THAT(e.what(), HasSubstr("between 1 and 65535"));
  EXPECT_THAT(e.what(), HasSubstr("MITOS_SERVER__PORT"));

  e = ExpectConfigError([&] {
    Resolver(s).Env({{"MITOS_SERVER__PORT", " 80"}});
  });
  EXPECT_EQ(e.key(), "server.port");
  EXPECT_THAT(e.what(), HasSubstr("integer"));
}

TEST(ResolverEnvTest, ListFromCommaText) {
  Schema s = TestSchema();
  Config c =
      Resolver(s).Env({{"MITOS_MODULES", "users, orders ,billing,,"}}).Build();
  EXPECT_THAT(c.List("modules"), ElementsAre("users", "orders", "billing"));
  EXPECT_EQ(c.OriginOf("modules").kind, Origin::kEnv);
}

TEST(ResolverEnvTest, EmptyListText) {
  Schema s = TestSchema();
  Config c = Resolver(s).Flag("modules", "", "--modules").Build();
  EXPECT_THAT(c.List("modules"), IsEmpty());
}

TEST(ResolverTest, ListFromYamlSequence) {
  Schema s = TestSchema();
  Config c = Resolver(s).Text("modules: [users, orders]\n", "f.yaml").Build();
  EXPECT_THAT(c.List("modules"), ElementsAre("users", "orders"));
  c = Resolver(s).Text("modules: []\n", "f.yaml").Build();
  EXPECT_THAT(c.List("modules"), IsEmpty());
}

TEST(ResolverTest, ListFromYamlCommaText) {
  Schema s = TestSchema();
  Config c = Resolver(s).Text("modules: \"a, b\"\n", "f.yaml").Build();
  EXPECT_THAT(c.List("modules"), ElementsAre("a", "b"));
}

// ----------------------------------------------------------------- Flags

TEST(ResolverFlagTest, UnknownKeyIsAnError) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Flag("server.nope", "1", "--set server.nope"); });
  EXPECT_EQ(e.key(), "server.nope");
  EXPECT_EQ(e.where(), "--set server.nope");
  EXPECT_THAT(e.what(), HasSubstr("unknown key"));
}

TEST(ResolverFlagTest, BadValueNamesFlag) {
  Schema s = TestSchema();
  ConfigError e =
      ExpectConfigError([&] { Resolver(s).Flag("workers", "many", "--w"); });
  EXPECT_EQ(e.key(), "workers");
  EXPECT_EQ(e.where(), "--w");
  EXPECT_THAT(e.what(), HasSubstr("\"many\""));
}

TEST(ResolverFlagTest, NegativeAndExtremeInts) {
  Schema s;
  s.Int("n", 0, INT64_MIN, INT64_MAX, "any");
  EXPECT_EQ(Resolver(s).Flag("n", "-42", "--n").Build().Int("n"), -42);
  EXPECT_EQ(
      Resolver(s).Flag("n", "9223372036854775807", "--n").Build().Int("n"),
      INT64_MAX);
  EXPECT_EQ(
      Resolver(s).Flag("n", "-9223372036854775808", "--n").Build().Int("n"),
      INT64_MIN);
  ExpectConfigError(
      [&] { Resolver(s).Flag("n", "9223372036854775808", "--n"); });
}

// ---------------------------------------------------------------- Config

TEST(ConfigTest, WrongTypeOrUndeclaredKeyIsLogicError) {
  Schema s = TestSchema();
  Config c = Resolver(s).Build();
  EXPECT_THROW(c.Int("nope"), std::logic_error);
  EXPECT_THROW(c.OriginOf("nope"), std::logic_error);
  EXPECT_THROW(c.String("server"), std::logic_error);
  try {
    c.String("server.port");
    ADD_FAILURE() << "a string read of an integer key did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(),
                 "config key server.port is an integer, read as a string");
  }
}

TEST(ConfigTest, UndeclaredKeyErrorNamesTheKey) {
  Schema s = TestSchema();
  Config c = Resolver(s).Build();
  try {
    c.Bool("users.storage.readers");
    ADD_FAILURE() << "an undeclared key did not throw";
  } catch (const UndeclaredKeyError& e) {
    EXPECT_EQ(e.key(), "users.storage.readers");
    EXPECT_STREQ(e.what(), "undeclared config key: users.storage.readers");
  }
}

TEST(ConfigTest, ARedactedKeyIsPrintedThroughItsRedactor) {
  Schema s;
  s.String("db.url", "", "Database URL.");
  s.Redacted("db.url", [](const std::string& v) {
    return v.substr(0, v.find(':')) + ":<hidden>";
  });
  EXPECT_TRUE(s.Find("db.url")->secret);
  Config c = Resolver(s).Env({{"MITOS_DB__URL", "user:hunter2"}}).Build();
  EXPECT_EQ(c.String("db.url"), "user:hunter2");
  std::string y = c.ToYaml();
  EXPECT_THAT(y, Not(HasSubstr("hunter2")));
  EXPECT_THAT(y, HasSubstr("url: \"user:<hidden>\"  # env MITOS_DB__URL"));
  EXPECT_THROW(s.Redacted("db.nothing", nullptr), std::logic_error);
}

TEST(ConfigTest, ToYamlRedactsSecretsAndNotesOrigins) {
  Schema s = TestSchema();
  Config c = Resolver(s)
                 .Text("server:\n  port: 9000\n", "f.yaml")
                 .Env({{"MITOS_DB__PASSWORD", "hunter2"}})
                 .Flag("workers", "7", "--workers")
                 .Build();
  std::string y = c.ToYaml();
  EXPECT_THAT(y, Not(HasSubstr("hunter2")));
  EXPECT_THAT(y, Not(HasSubstr("tok-default")));
  EXPECT_THAT(y,
              HasSubstr("password: \"<redacted>\"  # env MITOS_DB__PASSWORD"));
  EXPECT_THAT(y, HasSubstr("api_token: \"<redacted>\"  # default"));
  EXPECT_THAT(y, HasSubstr("port: 9000  # f.yaml:2:9"));
  EXPECT_THAT(y, HasSubstr("workers: 7  # flag --workers"));
  EXPECT_THAT(y, HasSubstr("host: \"127.0.0.1\"  # default"));
  EXPECT_THAT(y, HasSubstr("tls: false  # default"));
  EXPECT_THAT(y, HasSubstr("modules: [\"users\"]  # default"));
  EXPECT_THAT(y, HasSubstr("server:\n  port:"));
  EXPECT_THAT(y, HasSubstr("log:\n  level: \"info\""));
}

TEST(ConfigTest, ToYamlShowsEmptySecretAsEmpty) {
  Schema s = TestSchema();
  std::string y = Resolver(s).Build().ToYaml();
  EXPECT_THAT(y, HasSubstr("password: \"\"  # default"));
}

TEST(ConfigTest, ToYamlIsValidYamlWithTheResolvedValues) {
  // Round trip: the printed config loads back to the same values.
  Schema s;
  s.Int("server.port", 8080, 1, 65535, "p")
      .String("server.host", "a \"quoted\" host", "h")
      .Bool("log.json", true, "j")
      .List("modules", {"x", "y"}, "m");
  Config c = Resolver(s).Build();
  Config back = Resolver(s).Text(c.ToYaml(), "printed").Build();
  EXPECT_EQ(back.Int("server.port"), 8080);
  EXPECT_EQ(back.String("server.host"), "a \"quoted\" host");
  EXPECT_TRUE(back.Bool("log.json"));
  EXPECT_THAT(back.List("modules"), ElementsAre("x", "y"));
}

// Found by fuzz_config: the message of a bad value quoted it as JSON, which
// threw (and aborted `mitos config check`) when the value was not UTF-8.
TEST(ResolverErrorTest, ABadValueThatIsNotUtf8IsAConfigError) {
  Schema s = TestSchema();
  for (const char* yaml :
       {"workers: 4\xbd\n", "server:\n  port: \"\xbd\"\n",
        "log:\n  level: \"x\xff\"\n", "server:\n  tls: \xc3\n"}) {
    ConfigError e =
        ExpectConfigError([&] { Resolver(s).Text(yaml, "f.yaml"); });
    EXPECT_THAT(e.what(), HasSubstr("\xef\xbf\xbd")) << yaml;  // U+FFFD
    EXPECT_THAT(e.what(), HasSubstr("f.yaml:")) << yaml;
  }
  ConfigError e = ExpectConfigError([&] {
    Resolver(s).Env({{"MITOS_WORKERS", "\xbd"}});
  });
  EXPECT_EQ(e.key(), "workers");
}

TEST(ConfigTest, ToYamlShowsAValueThatIsNotUtf8) {
  Schema s = TestSchema();
  Config c = Resolver(s).Text("server:\n  host: \"a\xbd\"\n", "f.yaml").Build();
  EXPECT_THAT(c.ToYaml(), HasSubstr("host: \"a\xef\xbf\xbd\""));
}

// Found by fuzz_config: a key with a NUL byte (the YAML escape "\0") ended
// the message at the NUL, so that `mitos config check` printed nothing.
TEST(ResolverErrorTest, AKeyWithANulIsNoPlainName) {
  Schema s = TestSchema();
  ConfigError e = ExpectConfigError(
      [&] { Resolver(s).Text("server:\n  \"\\0port\": 1\n", "f.yaml"); });
  EXPECT_EQ(e.key(), "server");
  EXPECT_STREQ(e.what(), "server: keys must be plain names (f.yaml:2:3)");
}

TEST(ConfigErrorTest, MessageCombinesKeyProblemAndWhere) {
  ConfigError e("server.port", "f.yaml:2:9", "must be an integer");
  EXPECT_STREQ(e.what(), "server.port: must be an integer (f.yaml:2:9)");
  EXPECT_EQ(e.key(), "server.port");
  EXPECT_EQ(e.where(), "f.yaml:2:9");
  ConfigError bare("", "", "oops");
  EXPECT_STREQ(bare.what(), "oops");
}

TEST(EnvVarNameTest, MapsPathToVariable) {
  EXPECT_EQ(EnvVarName("server.port"), "MITOS_SERVER__PORT");
  EXPECT_EQ(EnvVarName("modules"), "MITOS_MODULES");
  EXPECT_EQ(EnvVarName("users.storage.busy_timeout_ms"),
            "MITOS_USERS__STORAGE__BUSY_TIMEOUT_MS");
}

TEST(EnvVarNameTest, RoundTripsThroughEnv) {
  Schema s = TestSchema();
  for (const Key& k : s.keys()) {
    if (k.type != Type::kString || !k.choices.empty()) continue;
    Config c = Resolver(s).Env({{EnvVarName(k.path), "v"}}).Build();
    EXPECT_EQ(c.String(k.path), "v") << k.path;
    EXPECT_EQ(c.OriginOf(k.path).where, EnvVarName(k.path));
  }
}

TEST(ProcessEnvTest, ReadsTheProcessEnvironment) {
  ASSERT_EQ(::setenv("MITOS_CONFIG_TEST_VAR", "a=b", 1), 0);
  std::map<std::string, std::string> env = ProcessEnv();
  ::unsetenv("MITOS_CONFIG_TEST_VAR");
  auto it = env.find("MITOS_CONFIG_TEST_VAR");
  ASSERT_NE(it, env.end());
  EXPECT_EQ(it->second, "a=b");
}

}  // namespace
}  // namespace mitos::config
