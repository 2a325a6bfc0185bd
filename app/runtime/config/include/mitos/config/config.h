// Typed, validated configuration.
//
// Every key is declared once in a Schema, with its type, default, range and a
// one-line contract. Values are resolved from four layers, highest first:
//   1. command-line flags,
//   2. environment variables: MITOS_ + the key path in upper case with "__"
//      between levels (server.port -> MITOS_SERVER__PORT),
//   3. the YAML file,
//   4. the built-in defaults.
// Anything that is not declared, of the wrong type or out of range is an
// error that names the key path and where the bad value came from.
#ifndef MITOS_CONFIG_CONFIG_H_
#define MITOS_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mitos::config {

using StringList = std::vector<std::string>;
using Value = std::variant<int64_t, bool, std::string, StringList>;

enum class Type { kInt, kBool, kString, kStringList };

struct Key {
  std::string path;  // dotted, e.g. "server.port"
  Type type = Type::kString;
  Value default_value;
  std::string doc;
  int64_t min = 0;                   // kInt only, inclusive
  int64_t max = 0;                   // kInt only, inclusive
  std::vector<std::string> choices;  // kString only; empty means any
  bool secret = false;               // redacted by `config print`
  // For a secret: what `config print` shows of a value (a URL without its
  // password, say) instead of "<redacted>".
  std::function<std::string(const std::string&)> redact;
};

// Thrown for every configuration problem. what() is the full message.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, std::string where, const std::string& problem);
  const std::string& key() const { return key_; }
  const std::string& where() const { return where_; }

 private:
  std::string key_;
  std::string where_;
};

// Thrown by Config's getters for a key the schema does not declare. It is
// a programming error of the code that reads the key (the key is missing
// from a declare_config), not of the configuration given; the runtime turns
// it into a start-up error naming the key. what() is "undeclared config
// key: <key>".
class UndeclaredKeyError : public std::logic_error {
 public:
  explicit UndeclaredKeyError(std::string key);
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

class Schema {
 public:
  Schema& Int(std::string path, int64_t def, int64_t min, int64_t max,
              std::string doc);
  Schema& Bool(std::string path, bool def, std::string doc);
  Schema& String(std::string path, std::string def, std::string doc,
                 std::vector<std::string> choices = {}, bool secret = false);
  Schema& List(std::string path, StringList def, std::string doc);
  // Makes the declared string key at `path` a secret that `config print`
  // shows as redact(value). Throws std::logic_error for an undeclared key.
  Schema& Redacted(std::string_view path,
                   std::function<std::string(const std::string&)> redact);

  // Returns the key declared at `path`, or nullptr.
  const Key* Find(std::string_view path) const;
  // Returns true iff some key starts with `prefix` + ".".
  bool IsSection(std::string_view prefix) const;
  const std::vector<Key>& keys() const { return keys_; }

 private:
  Schema& Add(Key key);
  std::vector<Key> keys_;
};

struct Origin {
  enum Kind { kDefault, kFile, kEnv, kFlag } kind = kDefault;
  std::string where;  // "config/mitos.yaml:3:9", "MITOS_SERVER__PORT", ...
};

// The resolved configuration: one value for every key of the schema.
class Config {
 public:
  // REQUIRES: the key exists and has the matching type. These are
  // programming errors: an undeclared key throws UndeclaredKeyError, a read
  // of the wrong type std::logic_error naming the key.
  int64_t Int(std::string_view path) const;
  bool Bool(std::string_view path) const;
  const std::string& String(std::string_view path) const;
  const StringList& List(std::string_view path) const;
  const Origin& OriginOf(std::string_view path) const;

  // Renders the resolved values as YAML, noting each value's origin;
  // secrets are printed as "<redacted>".
  std::string ToYaml() const;

 private:
  friend class Resolver;
  struct Entry {
    const Key* key;
    Value value;
    Origin origin;
  };
  const Entry& Get(std::string_view path) const;
  std::map<std::string, Entry, std::less<>> entries_;
  const Schema* schema_ = nullptr;
};

// Builds a Config from the layers. Throws ConfigError. A later call
// overrides an earlier one for the same key, so apply the layers lowest
// first: File, then Env, then Flag.
class Resolver {
 public:
  explicit Resolver(const Schema& schema) : schema_(schema) {}

  // Loads a YAML file. A missing or unreadable file, a syntax error, an
  // unknown key or a bad value is an error.
  Resolver& File(const std::string& path);
  // Loads YAML text (for tests); `name` is used in messages.
  Resolver& Text(const std::string& yaml, const std::string& name);
  // Applies MITOS_* variables. A variable with "__" must name a key; one
  // without must be a top-level key or is ignored (Kubernetes injects
  // variables such as MITOS_USERS_SERVICE_HOST that are not ours).
  Resolver& Env(const std::map<std::string, std::string>& env);
  // Applies a value given on the command line; `flag` names it in messages.
  Resolver& Flag(std::string_view path, const std::string& value,
                 const std::string& flag);

  Config Build() const;

 private:
  void Set(std::string_view path, Value v, Origin origin);
  Value Parse(const Key& key, const std::string& text,
              const std::string& where) const;

  const Schema& schema_;
  std::map<std::string, std::pair<Value, Origin>, std::less<>> values_;
};

// Returns the environment variable that sets `path`: server.port ->
// MITOS_SERVER__PORT.
std::string EnvVarName(std::string_view path);

// Returns the process environment as a map.
std::map<std::string, std::string> ProcessEnv();

}  // namespace mitos::config

#endif  // MITOS_CONFIG_CONFIG_H_
