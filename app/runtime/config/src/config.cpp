#include "mitos/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

extern char** environ;

namespace mitos::config {
namespace {

const char* TypeName(const Key& k) {
  switch (k.type) {
    case Type::kInt: return "an integer";
    case Type::kBool: return "a boolean (true or false)";
    case Type::kString: return "a string";
    case Type::kStringList: return "a list of strings";
  }
  return "a value";
}

std::string Where(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" +
         std::to_string(m.column + 1);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string EnvVarName(std::string_view path) {
  std::string out = "MITOS_";
  for (char c : path) {
    if (c == '.') out += "__";
    else out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

namespace {

StringList SplitList(const std::string& text) {
  StringList out;
  std::string cur;
  std::istringstream in(text);
  while (std::getline(in, cur, ',')) {
    auto b = cur.find_first_not_of(" \t");
    auto e = cur.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    out.push_back(cur.substr(b, e - b + 1));
  }
  return out;
}

// A config file or variable may hold bytes that are not UTF-8: they are
// shown as U+FFFD rather than make the message itself fail.
std::string Quote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false,
                                nlohmann::json::error_handler_t::replace);
}

std::string Render(const Key& k, const Value& v) {
  if (k.secret) {
    const auto* s = std::get_if<std::string>(&v);
    if (s != nullptr && !s->empty() && k.redact) return Quote(k.redact(*s));
    return (s != nullptr && s->empty()) ? "\"\"" : "\"<redacted>\"";
  }
  switch (k.type) {
    case Type::kInt: return std::to_string(std::get<int64_t>(v));
    case Type::kBool: return std::get<bool>(v) ? "true" : "false";
    case Type::kString: return Quote(std::get<std::string>(v));
    case Type::kStringList: {
      std::string out = "[";
      const auto& l = std::get<StringList>(v);
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out += ", ";
        out += Quote(l[i]);
      }
      return out + "]";
    }
  }
  return "";
}

}  // namespace

ConfigError::ConfigError(std::string key, std::string where,
                         const std::string& problem)
    : std::runtime_error(
          (key.empty() ? std::string() : key + ": ") + problem +
          (where.empty() ? std::string() : " (" + where + ")")),
      key_(std::move(key)),
      where_(std::move(where)) {}

UndeclaredKeyError::UndeclaredKeyError(std::string key)
    : std::logic_error("undeclared config key: " + key), key_(std::move(key)) {}

Schema& Schema::Add(Key key) {
  if (Find(key.path) != nullptr) {
    throw std::logic_error("config key declared twice: " + key.path);
  }
  keys_.push_back(std::move(key));
  return *this;
}

Schema& Schema::Int(std::string path, int64_t def, int64_t min, int64_t max,
                    std::string doc) {
  Key k;
  k.path = std::move(path);
  k.type = Type::kInt;
  k.default_value = def;
  k.min = min;
  k.max = max;
  k.doc = std::move(doc);
  return Add(std::move(k));
}

Schema& Schema::Bool(std::string path, bool def, std::string doc) {
  Key k;
  k.path = std::move(path);
  k.type = Type::kBool;
  k.default_value = def;
  k.doc = std::move(doc);
  return Add(std::move(k));
}

Schema& Schema::String(std::string path, std::string def, std::string doc,
                       std::vector<std::string> choices, bool secret) {
  Key k;
  k.path = std::move(path);
  k.type = Type::kString;
  k.default_value = std::move(def);
  k.doc = std::move(doc);
  k.choices = std::move(choices);
  k.secret = secret;
  return Add(std::move(k));
}

Schema& Schema::List(std::string path, StringList def, std::string doc) {
  Key k;
  k.path = std::move(path);
  k.type = Type::kStringList;
  k.default_value = std::move(def);
  k.doc = std::move(doc);
  return Add(std::move(k));
}

Schema& Schema::Redacted(
    std::string_view path,
    std::function<std::string(const std::string&)> redact) {
  for (auto& k : keys_) {
    if (k.path != path) continue;
    if (k.type != Type::kString) {
      throw std::logic_error("config key is no string: " + k.path);
    }
    k.secret = true;
    k.redact = std::move(redact);
    return *this;
  }
  throw std::logic_error("config key not declared: " + std::string(path));
}

const Key* Schema::Find(std::string_view path) const {
  for (const auto& k : keys_) {
    if (k.path == path) return &k;
  }
  return nullptr;
}

bool Schema::IsSection(std::string_view prefix) const {
  for (const auto& k : keys_) {
    if (k.path.size() > prefix.size() &&
        k.path.compare(0, prefix.size(), prefix) == 0 &&
        k.path[prefix.size()] == '.') {
      return true;
    }
  }
  return false;
}

const Config::Entry& Config::Get(std::string_view path) const {
  auto it = entries_.find(path);
  if (it == entries_.end()) throw UndeclaredKeyError(std::string(path));
  return it->second;
}

namespace {

// Returns the value of `e` as a T; a read of another type than declared
// throws std::logic_error naming the key (std::get would only say "wrong
// index").
template <typename T>
const T& As(std::string_view path, const Key& key, const Value& v,
            const char* read_as) {
  if (const T* t = std::get_if<T>(&v)) return *t;
  throw std::logic_error("config key " + std::string(path) + " is " +
                         TypeName(key) + ", read as " + read_as);
}

}  // namespace

int64_t Config::Int(std::string_view path) const {
  const Entry& e = Get(path);
  return As<int64_t>(path, *e.key, e.value, "an integer");
}
bool Config::Bool(std::string_view path) const {
  const Entry& e = Get(path);
  return As<bool>(path, *e.key, e.value, "a boolean");
}
const std::string& Config::String(std::string_view path) const {
  const Entry& e = Get(path);
  return As<std::string>(path, *e.key, e.value, "a string");
}
const StringList& Config::List(std::string_view path) const {
  const Entry& e = Get(path);
  return As<StringList>(path, *e.key, e.value, "a list of strings");
}
const Origin& Config::OriginOf(std::string_view path) const {
  return Get(path).origin;
}

std::string Config::ToYaml() const {
  std::ostringstream out;
  std::vector<std::string> prev;
  for (const auto& key : schema_->keys()) {
    const Entry& e = Get(key.path);
    std::vector<std::string> parts;
    std::istringstream in(key.path);
    for (std::string p; std::getline(in, p, '.');) parts.push_back(p);
    size_t common = 0;
    while (common + 1 < parts.size() && common + 1 < prev.size() &&
           parts[common] == prev[common]) {
      ++common;
    }
    for (size_t i = common; i + 1 < parts.size(); ++i) {
      out << std::string(2 * i, ' ') << parts[i] << ":\n";
    }
    out << std::string(2 * (parts.size() - 1), ' ') << parts.back() << ": "
        << Render(key, e.value);
    switch (e.origin.kind) {
      case Origin::kDefault: out << "  # default"; break;
      case Origin::kFile: out << "  # " << e.origin.where; break;
      case Origin::kEnv: out << "  # env " << e.origin.where; break;
      case Origin::kFlag: out << "  # flag " << e.origin.where; break;
    }
    out << "\n";
    prev = std::move(parts);
  }
  return out.str();
}

Value Resolver::Parse(const Key& key, const std::string& text,
                      const std::string& where) const {
  switch (key.type) {
    case Type::kInt: {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      bool digits = !text.empty() &&
                    text.find_first_not_of("-0123456789") == std::string::npos;
      if (!digits || end == text.c_str() || *end != '\0' || errno == ERANGE) {
        throw ConfigError(key.path, where,
                          "must be " + std::string(TypeName(key)) + ", got " +
                              Quote(text));
      }
      if (v < key.min || v > key.max) {
        throw ConfigError(key.path, where,
                          "must be between " + std::to_string(key.min) +
                              " and " + std::to_string(key.max) + ", got " +
                              std::to_string(v));
      }
      return static_cast<int64_t>(v);
    }
    case Type::kBool: {
      std::string t = Lower(text);
      if (t == "true") return true;
      if (t == "false") return false;
      throw ConfigError(key.path, where,
                        "must be " + std::string(TypeName(key)) + ", got " +
                            Quote(text));
    }
    case Type::kString: {
      if (!key.choices.empty() &&
          std::find(key.choices.begin(), key.choices.end(), text) ==
              key.choices.end()) {
        std::string list;
        for (const auto& c : key.choices) list += (list.empty() ? "" : ", ") + c;
        throw ConfigError(key.path, where,
                          "must be one of " + list + ", got " + Quote(text));
      }
      return text;
    }
    case Type::kStringList:
      return SplitList(text);
  }
  return text;
}

void Resolver::Set(std::string_view path, Value v, Origin origin) {
  values_[std::string(path)] = {std::move(v), std::move(origin)};
}

Resolver& Resolver::File(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw ConfigError("", path, "cannot read the config file");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return Text(ss.str(), path);
}

Resolver& Resolver::Text(const std::string& yaml, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError("", Where(name, e.mark), "invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return *this;
  if (!root.IsMap()) {
    throw ConfigError("", Where(name, root.Mark()),
                      "the top level must be a mapping of keys");
  }
  // Walk the mapping; every leaf must be a declared key.
  std::vector<std::pair<std::string, YAML::Node>> stack{{"", root}};
  while (!stack.empty()) {
    auto [prefix, node] = stack.back();
    stack.pop_back();
    for (auto it = node.begin(); it != node.end(); ++it) {
      // The iterator yields a temporary pair: hold the nodes by value (they
      // are handles), never by reference.
      const YAML::Node k = it->first;
      const YAML::Node val = it->second;
      // A NUL ("\0" in a quoted key) would cut the message at the key.
      if (!k.IsScalar() || k.Scalar().find('\0') != std::string::npos) {
        throw ConfigError(prefix, Where(name, k.Mark()),
                          "keys must be plain names");
      }
      std::string path =
          prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
      std::string where =
          Where(name, val.Mark().is_null() ? k.Mark() : val.Mark());
      if (const Key* key = schema_.Find(path)) {
        Origin origin{Origin::kFile, where};
        if (key->type == Type::kStringList && val.IsSequence()) {
          StringList list;
          for (const auto& item : val) {
            if (!item.IsScalar()) {
              throw ConfigError(path, Where(name, item.Mark()),
                                "must be a list of strings");
            }
            list.push_back(item.Scalar());
          }
          Set(path, std::move(list), origin);
        } else if (val.IsScalar()) {
          // A quoted scalar is a string: "8080" is not an integer.
          if (val.Tag() == "!" &&
              (key->type == Type::kInt || key->type == Type::kBool)) {
            throw ConfigError(path, where,
                              "must be " + std::string(TypeName(*key)) +
                                  ", got the string " + Quote(val.Scalar()));
          }
          Set(path, Parse(*key, val.Scalar(), where), origin);
        } else {
          throw ConfigError(path, where,
                            "must be " + std::string(TypeName(*key)));
        }
      } else if (schema_.IsSection(path)) {
        if (val.IsNull()) continue;
        if (!val.IsMap()) {
          throw ConfigError(path, where, "must be a mapping of keys");
        }
        stack.emplace_back(path, val);
      } else {
        throw ConfigError(path, Where(name, k.Mark()), "unknown key");
      }
    }
  }
  return *this;
}

Resolver& Resolver::Env(const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) {
    if (name.rfind("MITOS_", 0) != 0) continue;
    std::string rest = name.substr(6);
    bool nested = rest.find("__") != std::string::npos;
    std::string path;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest.compare(i, 2, "__") == 0) {
        path += '.';
        ++i;
      } else {
        path += static_cast<char>(
            std::tolower(static_cast<unsigned char>(rest[i])));
      }
    }
    const Key* key = schema_.Find(path);
    if (key == nullptr) {
      if (nested) {
        throw ConfigError(path, "environment variable " + name,
                          "unknown key");
      }
      continue;
    }
    Set(path, Parse(*key, value, "environment variable " + name),
        {Origin::kEnv, name});
  }
  return *this;
}

Resolver& Resolver::Flag(std::string_view path, const std::string& value,
                         const std::string& flag) {
  const Key* key = schema_.Find(path);
  if (key == nullptr) {
    throw ConfigError(std::string(path), flag, "unknown key");
  }
  Set(path, Parse(*key, value, flag), {Origin::kFlag, flag});
  return *this;
}

Config Resolver::Build() const {
  Config c;
  c.schema_ = &schema_;
  for (const auto& key : schema_.keys()) {
    auto it = values_.find(key.path);
    if (it != values_.end()) {
      c.entries_.emplace(key.path,
                         Config::Entry{&key, it->second.first, it->second.second});
    } else {
      c.entries_.emplace(key.path, Config::Entry{&key, key.default_value, {}});
    }
  }
  return c;
}

std::map<std::string, std::string> ProcessEnv() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

}  // namespace mitos::config
