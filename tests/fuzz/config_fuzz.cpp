// Fuzzes the configuration as the binary reads a config file: the input is
// YAML text, resolved against the real schema (the runtime's keys and
// those of every module app/main.cpp lists), followed by what start-up
// derives from it: the selected modules, the remote URLs and the
// dependency check.
//
// Every problem must come out as a config::ConfigError or a Status, never
// as another exception, a crash or a leak. A config that resolves holds,
// for every key, a value of the key's type within its range or choices;
// and what `config print` renders of it (Config::ToYaml) is YAML that
// resolves to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "gateway/module.h"
#include "mitos/config/config.h"
#include "mitos/core/runtime.h"
#include "orders/module.h"
#include "products/module.h"
#include "users/module.h"

namespace {

using mitos::config::Config;
using mitos::config::ConfigError;
using mitos::config::Key;
using mitos::config::Schema;
using mitos::config::Type;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "config fuzz: %s\n", what.c_str());
  std::abort();
}

struct Known {
  std::vector<mitos::ModuleSpec> catalog;
  Schema schema;
};

// The catalog of app/main.cpp and its schema, built once.
const Known& TheBinary() {
  static const Known* known = [] {
    auto* k = new Known;
    k->catalog = {users::Spec(), orders::Spec(), products::Spec(),
                  gateway::Spec()};
    mitos::DeclareConfig(k->catalog, &k->schema);
    return k;
  }();
  return *known;
}

void CheckValues(const Schema& schema, const Config& c) {
  for (const Key& key : schema.keys()) {
    switch (key.type) {
      case Type::kInt: {
        int64_t v = c.Int(key.path);
        if (v < key.min || v > key.max) {
          Fail(key.path + " resolved out of range: " + std::to_string(v));
        }
        break;
      }
      case Type::kBool:
        c.Bool(key.path);
        break;
      case Type::kString: {
        const std::string& v = c.String(key.path);
        bool listed = key.choices.empty();
        for (const auto& choice : key.choices) listed = listed || choice == v;
        if (!listed) Fail(key.path + " resolved to no choice: " + v);
        break;
      }
      case Type::kStringList:
        c.List(key.path);
        break;
    }
  }
}

bool SameValue(const Key& key, const Config& a, const Config& b) {
  switch (key.type) {
    case Type::kInt:
      return a.Int(key.path) == b.Int(key.path);
    case Type::kBool:
      return a.Bool(key.path) == b.Bool(key.path);
    case Type::kString:
      return a.String(key.path) == b.String(key.path);
    case Type::kStringList:
      return a.List(key.path) == b.List(key.path);
  }
  return false;
}

// Returns true iff `s` is well-formed UTF-8 (RFC 3629).
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

bool IsUtf8(const Key& key, const Config& c) {
  if (key.type == Type::kString) return IsUtf8(c.String(key.path));
  if (key.type == Type::kStringList) {
    for (const auto& item : c.List(key.path)) {
      if (!IsUtf8(item)) return false;
    }
  }
  return true;
}

void CheckPrinted(const Schema& schema, const Config& c) {
  std::string printed = c.ToYaml();
  Config again;
  try {
    again = mitos::config::Resolver(schema).Text(printed, "printed").Build();
  } catch (const ConfigError& e) {
    Fail(std::string("config print's output does not load: ") + e.what() +
         "\n" + printed);
  }
  for (const Key& key : schema.keys()) {
    if (key.secret) continue;  // printed redacted
    // YAML is Unicode text: bytes that are not UTF-8 are printed as U+FFFD.
    if (!IsUtf8(key, c)) continue;
    if (!SameValue(key, c, again)) {
      Fail("config print changes " + key.path + ":\n" + printed);
    }
  }
}

void Run(const std::string& yaml) {
  const Known& known = TheBinary();
  Config c;
  try {
    c = mitos::config::Resolver(known.schema).Text(yaml, "fuzz.yaml").Build();
  } catch (const ConfigError& e) {
    if (std::string(e.what()).empty()) Fail("a ConfigError without a message");
    return;
  }
  CheckValues(known.schema, c);
  CheckPrinted(known.schema, c);

  auto selected = mitos::SelectModules(known.catalog, c.List("modules"));
  if (!selected.ok()) {
    if (selected.status().message().empty()) Fail("a Status without a message");
    return;
  }
  std::map<std::string, std::string> remotes;
  try {
    remotes = mitos::RemoteUrls(known.catalog, c, {});
  } catch (const ConfigError& e) {
    if (std::string(e.what()).empty()) Fail("a ConfigError without a message");
    return;
  }
  mitos::Status deps = mitos::CheckDependencies(*selected, remotes);
  if (!deps.ok() && deps.message().empty()) Fail("a Status without a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    Run(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& e) {
    Fail(std::string("an exception that is no ConfigError: ") +
         typeid(e).name() + ": " + e.what());
  }
  return 0;
}
