#include "scaffold.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <ostream>
#include <sstream>
#include <system_error>

namespace mitos::internal {
namespace {

namespace fs = std::filesystem;

constexpr int kExitWrite = 1;
constexpr int kExitUsage = 2;
constexpr size_t kMaxNameLength = 32;

// C++20 keywords, alternative tokens, and the identifiers with a special
// meaning in some context (a namespace `module` or `final` would compile,
// and confuse every reader).
constexpr std::array kKeywords = {
    "alignas",     "alignof",      "and",          "and_eq",
    "asm",         "auto",         "bitand",       "bitor",
    "bool",        "break",        "case",         "catch",
    "char",        "char8_t",      "char16_t",     "char32_t",
    "class",       "compl",        "concept",      "const",
    "consteval",   "constexpr",    "constinit",    "const_cast",
    "continue",    "co_await",     "co_return",    "co_yield",
    "decltype",    "default",      "delete",       "do",
    "double",      "dynamic_cast", "else",         "enum",
    "explicit",    "export",       "extern",       "false",
    "float",       "for",          "friend",       "goto",
    "if",          "inline",       "int",          "long",
    "mutable",     "namespace",    "new",          "noexcept",
    "not",         "not_eq",       "nullptr",      "operator",
    "or",          "or_eq",        "private",      "protected",
    "public",      "register",     "reinterpret_cast", "requires",
    "return",      "short",        "signed",       "sizeof",
    "static",      "static_assert", "static_cast", "struct",
    "switch",      "template",     "this",         "thread_local",
    "throw",       "true",         "try",          "typedef",
    "typeid",      "typename",     "union",        "unsigned",
    "using",       "virtual",      "void",         "volatile",
    "wchar_t",     "while",        "xor",          "xor_eq",
    "final",       "override",     "import",       "module",
};

struct Reserved {
  const char* name;
  const char* why;
};

// What a module's name becomes: a namespace beside those its code already
// sees, the prefix of its routes (/<name>), its config section (<name>.*),
// and the targets mitos_<name>, mitos_<name>_api and <name>_test.
constexpr std::array kReserved = {
    Reserved{"livez", "is a route of the runtime (/livez)"},
    Reserved{"readyz", "is a route of the runtime (/readyz)"},
    Reserved{"health", "is a route of the runtime (/health)"},
    Reserved{"metrics", "is a route of the runtime (/metrics)"},
    Reserved{"modules", "is a route of the runtime (/modules)"},
    Reserved{"openapi", "is a route of the runtime (/openapi.json)"},
    Reserved{"data_dir", "is a config key of the runtime"},
    Reserved{"server", "is a config section of the runtime (server.*)"},
    Reserved{"shutdown", "is a config section of the runtime (shutdown.*)"},
    Reserved{"remote", "is a config section of the runtime (remote.*)"},
    Reserved{"remotes", "is a config section of the runtime (remotes.*)"},
    Reserved{"tracing", "is a config section of the runtime (tracing.*)"},
    Reserved{"log", "is a config section of the runtime (log.*)"},
    Reserved{"base", "is a library of the runtime (mitos_base)"},
    Reserved{"config", "is a library of the runtime (mitos_config)"},
    Reserved{"http", "is a library of the runtime (mitos_http)"},
    Reserved{"observability",
             "is a library of the runtime (mitos_observability)"},
    Reserved{"io", "is a library of the runtime (mitos_io)"},
    Reserved{"storage", "is a library of the runtime (mitos_storage)"},
    Reserved{"core", "is a library of the runtime (mitos_core)"},
    Reserved{"runtime", "is a library of the runtime (mitos_runtime)"},
    Reserved{"warnings", "is a target of the build (mitos_warnings)"},
    Reserved{"test_support", "is a target of the build (mitos_test_support)"},
    Reserved{"fuzz_support", "is a target of the build (mitos_fuzz_support)"},
    Reserved{"mitos", "is the runtime's namespace"},
    Reserved{"std", "is the standard library's namespace"},
    Reserved{"posix", "is a namespace reserved by the C++ standard"},
    Reserved{"testing", "is GoogleTest's namespace, which module tests use"},
    Reserved{"nlohmann", "is the JSON library's namespace"},
    Reserved{"httplib", "is the HTTP library's namespace"},
    Reserved{"contract",
             "is the namespace of each module's generated code "
             "(<module>::contract)"},
    Reserved{"linux", "is a predefined macro of GNU C++"},
    Reserved{"unix", "is a predefined macro of GNU C++"},
    Reserved{"errno", "is a macro of the C library"},
    Reserved{"assert", "is a macro of the C library"},
    Reserved{"main", "names the program's entry point"},
};

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Camel(std::string_view name) {
  std::string out;
  bool up = true;
  for (char c : name) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up && IsLower(c) ? static_cast<char>(c - 'a' + 'A') : c;
    up = false;
  }
  return out;
}

std::string Upper(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (IsLower(c)) c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos;
       at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    size_t n = nl == std::string_view::npos ? text.size() : nl + 1;
    out.emplace_back(text.substr(0, n));
    text.remove_prefix(n);
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' ||
                        s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The path of `#include "path"`, or "" for any other line.
std::string_view IncludedPath(std::string_view line) {
  line = Trim(line);
  constexpr std::string_view kInclude = "#include";
  if (line.substr(0, kInclude.size()) != kInclude) return {};
  line = Trim(line.substr(kInclude.size()));
  if (line.size() < 2 || line.front() != '"') return {};
  size_t end = line.find('"', 1);
  if (end == std::string_view::npos) return {};
  return line.substr(1, end - 1);
}

bool IsModuleName(std::string_view s) {
  return !s.empty() && IsLower(s.front()) &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return IsLower(c) || IsDigit(c) || c == '_'; });
}

// The module of `#include "<m>/module.h"`, or "".
std::string_view EntryHeaderModule(std::string_view line) {
  std::string_view path = IncludedPath(line);
  constexpr std::string_view kSuffix = "/module.h";
  if (path.size() <= kSuffix.size() ||
      path.substr(path.size() - kSuffix.size()) != kSuffix) {
    return {};
  }
  std::string_view m = path.substr(0, path.size() - kSuffix.size());
  return IsModuleName(m) ? m : std::string_view{};
}

// The module of a list line `<m>::Spec(),` (comma optional), or "".
std::string_view ListEntryModule(std::string_view line) {
  line = Trim(line);
  if (!line.empty() && line.back() == ',') line.remove_suffix(1);
  constexpr std::string_view kSpec = "::Spec()";
  if (line.size() <= kSpec.size() ||
      line.substr(line.size() - kSpec.size()) != kSpec) {
    return {};
  }
  std::string_view m = line.substr(0, line.size() - kSpec.size());
  return IsModuleName(m) ? m : std::string_view{};
}

std::string Indent(std::string_view line) {
  return std::string(line.substr(0, line.find_first_not_of(" \t")));
}

int Usage(std::ostream& err, const std::string& msg) {
  err << "mitos: new module: " << msg << "\n";
  return kExitUsage;
}

Status WriteFile(const fs::path& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) return Status::Internal("cannot write " + path.string());
  return Status::Ok();
}

std::string ReadFile(const fs::path& path, bool* ok) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  if (f.is_open()) s << f.rdbuf();
  *ok = f.is_open() && !f.bad();
  return s.str();
}

// rwx for everyone, less the process's umask: what mkdir(1) would give.
fs::perms DirectoryPerms() {
  mode_t mask = ::umask(0);
  ::umask(mask);
  return static_cast<fs::perms>(0777 & ~mask);
}

// A new, empty directory `<dir>/<prefix>XXXXXX`, or "" (errno says why).
fs::path MakeTempDir(const fs::path& dir, const std::string& prefix) {
  std::string pattern = (dir / (prefix + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

// Prints commands (or files and what to add to them) with their
// explanations aligned after them.
void PrintSteps(std::ostream& out,
                const std::vector<std::pair<std::string, std::string>>& steps) {
  size_t width = 0;
  for (const auto& s : steps) {
    if (!s.second.empty()) width = std::max(width, s.first.size());
  }
  for (const auto& [what, why] : steps) {
    out << "  " << what;
    if (!why.empty()) out << std::string(width - what.size() + 2, ' ') << why;
    out << "\n";
  }
}

void PrintNextSteps(std::ostream& out, const std::string& m) {
  const std::string k8s = KubernetesName(m);
  out << "\nNext steps:\n";
  PrintSteps(out, {
      {"cmake --build build",
       "# generates its API, routes and client from the contract; builds it"},
      {"ctest --test-dir build -R '^" + m + "\\.'",
       "# its service test and the generated contract test"},
      {"./build/mitos --modules=" + m + " --port 8081", "# it alone"},
      {"curl -si localhost:8081/" + m +
           " -H 'Content-Type: application/json' -d '{\"name\":\"first\"}'",
       ""},
  });
  out << "Then make it yours: modules/" << m
      << "/contract.yaml and src/service.cpp (docs/modules.md).\n"
      << "\nTo run it as a service of its own on Kubernetes (docs/deploy.md), "
         "once built:\n";
  PrintSteps(out, {
      {"python3 k8s/modules.py build/mitos",
       "# writes k8s/base/" + k8s + "/ and every module's NetworkPolicy"},
      {"k8s/overlays/split/kustomization.yaml",
       "resources: add  - ../../base/" + k8s},
      {"config/split/" + m + ".yaml",
       "write: modules: [" + m + "], data_dir: /var/lib/mitos, server: {port: 8080}"},
      {"config/kustomization.yaml", "files: add  - split/" + m + ".yaml"},
      {"config/split/gateway.yaml",
       "remotes: add  " + m + ": {url: http://" + k8s + ":8080}"},
      {"python3 k8s/modules.py --check build/mitos",
       "# says what is still missing"},
  });
}

}  // namespace

std::string InvalidModuleName(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxNameLength) {
    return "is longer than " + std::to_string(kMaxNameLength) + " characters";
  }
  bool snake = IsLower(name.front()) && name.back() != '_';
  for (size_t i = 0; snake && i < name.size(); ++i) {
    char c = name[i];
    snake = IsLower(c) || IsDigit(c) ||
            (c == '_' && i + 1 < name.size() && name[i + 1] != '_');
  }
  if (!snake) {
    return "is not lower snake case: a lower-case letter, then lower-case "
           "letters, digits and single underscores between them (e.g. "
           "stock_levels)";
  }
  for (const char* k : kKeywords) {
    if (name == k) return "is a C++ keyword";
  }
  for (const auto& r : kReserved) {
    if (name == r.name) return r.why;
  }
  constexpr std::string_view kApi = "_api";
  if (name.size() > kApi.size() &&
      name.substr(name.size() - kApi.size()) == kApi) {
    return "ends in _api, which the build gives the API target of another "
           "module (mitos_<module>_api)";
  }
  return "";
}

std::string RenderTemplate(std::string_view text, std::string_view name) {
  std::string out(text);
  ReplaceAll(out, "@module@", name);
  ReplaceAll(out, "@Module@", Camel(name));
  ReplaceAll(out, "@MODULE@", Upper(name));
  return out;
}

std::string KubernetesName(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

StatusOr<Registration> RegisterModule(std::string_view main_cpp,
                                      std::string_view name) {
  std::vector<std::string> lines = Lines(main_cpp);
  const std::string header = std::string(name) + "/module.h";
  Registration r;

  // The include block: the run of #include lines around the first entry
  // header.
  int first_entry = -1;
  bool has_include = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view m = EntryHeaderModule(lines[i]);
    if (m.empty()) continue;
    if (first_entry < 0) first_entry = static_cast<int>(i);
    if (m == name) has_include = true;
  }
  if (first_entry < 0) {
    return Status::InvalidArgument(
        "app/main.cpp has no #include \"<module>/module.h\" lines to add "
        "to");
  }
  if (!has_include) {
    size_t begin = first_entry;
    while (begin > 0 && !IncludedPath(lines[begin - 1]).empty()) --begin;
    size_t end = first_entry;
    while (end < lines.size() && !IncludedPath(lines[end]).empty()) ++end;
    size_t at = end;
    for (size_t i = begin; i < end; ++i) {
      if (IncludedPath(lines[i]) > header) {
        at = i;
        break;
      }
    }
    lines.insert(lines.begin() + at, "#include \"" + header + "\"\n");
    r.include_added = true;
  }

  int last_entry = -1;
  int gateway = -1;
  bool has_entry = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view m = ListEntryModule(lines[i]);
    if (m.empty()) continue;
    last_entry = static_cast<int>(i);
    if (m == "gateway" && gateway < 0) gateway = static_cast<int>(i);
    if (m == name) has_entry = true;
  }
  if (last_entry < 0) {
    return Status::InvalidArgument(
        "app/main.cpp has no module list to add to (lines like "
        "`users::Spec(),`)");
  }
  if (!has_entry) {
    const std::string entry = std::string(name) + "::Spec(),\n";
    if (gateway >= 0 && name != "gateway") {
      lines.insert(lines.begin() + gateway, Indent(lines[gateway]) + entry);
    } else {
      std::string& last = lines[last_entry];
      std::string_view trimmed = Trim(last);
      if (trimmed.back() != ',') {
        last = std::string(last.substr(0, last.find(trimmed))) +
               std::string(trimmed) + ",\n";
      }
      lines.insert(lines.begin() + last_entry + 1, Indent(last) + entry);
    }
    r.entry_added = true;
  }
  for (const auto& l : lines) r.text += l;
  return r;
}

int NewModule(const NewModuleOptions& o, std::ostream& out,
              std::ostream& err) {
  const std::string& m = o.name;
  if (std::string why = InvalidModuleName(m); !why.empty()) {
    return Usage(err, "\"" + m + "\" cannot name a module: it " + why);
  }
  std::error_code ec;
  const fs::path modules = o.root / "modules";
  const fs::path main_cpp = o.root / "app" / "main.cpp";
  if (!fs::is_directory(modules, ec) || !fs::is_regular_file(main_cpp, ec)) {
    return Usage(err,
                 "run it at the root of a Mitos repository (where modules/ "
                 "and app/main.cpp are); " +
                     o.root.string() + " has no " +
                     (fs::is_directory(modules, ec) ? "app/main.cpp"
                                                    : "modules/"));
  }
  const fs::path dir = modules / m;
  if (fs::symlink_status(dir, ec).type() != fs::file_type::not_found) {
    return Usage(err, "modules/" + m +
                          " already exists; choose another name, or remove "
                          "it first");
  }

  std::string main_text;
  Registration reg;
  if (o.register_module) {
    bool ok = false;
    main_text = ReadFile(main_cpp, &ok);
    if (!ok) return Usage(err, "cannot read app/main.cpp");
    auto edited = RegisterModule(main_text, m);
    if (!edited.ok()) {
      return Usage(err, edited.status().message() +
                            "; add the module by hand, or pass "
                            "--no-register");
    }
    reg = std::move(*edited);
  }

  // Everything is written into a folder beside modules/ (so that a build
  // never sees it half made) and renamed into place at once.
  const fs::path tmp = MakeTempDir(o.root, ".mitos-new-" + m + "-");
  if (tmp.empty()) {
    const int e = errno;
    err << "mitos: new module: cannot create a temporary folder in "
        << o.root.string() << ": " << std::generic_category().message(e)
        << "\n";
    return kExitWrite;
  }
  std::vector<std::string> written;
  for (const auto& t : ModuleTemplates()) {
    const std::string rel = RenderTemplate(t.path, m);
    const fs::path path = tmp / rel;
    fs::create_directories(path.parent_path(), ec);
    Status s = ec ? Status::Internal("cannot create " +
                                     path.parent_path().string())
                  : WriteFile(path, RenderTemplate(t.text, m));
    if (!s.ok()) {
      fs::remove_all(tmp, ec);
      err << "mitos: new module: " << s.message() << "\n";
      return kExitWrite;
    }
    written.push_back("modules/" + m + "/" + rel);
  }
  // mkdtemp makes it private; the module's folder is like any other.
  fs::permissions(tmp, DirectoryPerms(), ec);
  fs::rename(tmp, dir, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    err << "mitos: new module: cannot create modules/" << m << ": "
        << ec.message() << "\n";
    return kExitWrite;
  }

  if (reg.include_added || reg.entry_added) {
    fs::path next = main_cpp;
    next += ".mitos-new";
    Status s = WriteFile(next, reg.text);
    if (s.ok()) {
      fs::permissions(next, fs::status(main_cpp, ec).permissions(), ec);
      fs::rename(next, main_cpp, ec);
      if (ec) s = Status::Internal("cannot replace app/main.cpp: " + ec.message());
    }
    if (!s.ok()) {
      std::error_code ignored;
      fs::remove(next, ignored);
      fs::remove_all(dir, ignored);
      err << "mitos: new module: " << s.message() << " (modules/" << m
          << " removed again)\n";
      return kExitWrite;
    }
  }

  out << "Created modules/" << m << "/, a module with its own database ("
      << m << ".db) and a starter resource: POST /" << m << ", GET /" << m
      << "/{id} and GET /" << m << ".\n";
  for (const auto& w : written) out << "  " << w << "\n";
  const std::string what =
      "#include \"" + m + "/module.h\" and " + m + "::Spec()";
  if (!o.register_module) {
    out << "Not registered (--no-register): add " << what
        << " to the module list in app/main.cpp.\n";
  } else if (reg.include_added || reg.entry_added) {
    out << "Registered it in app/main.cpp: " << what << ".\n";
  } else {
    out << "app/main.cpp already registers it (" << what << ").\n";
  }
  PrintNextSteps(out, m);
  return 0;
}

}  // namespace mitos::internal
