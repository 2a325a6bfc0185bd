// `mitos new module`: the names it refuses, the template it writes, the
// edit of app/main.cpp, and that a refusal writes nothing.
#include "scaffold.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "mitos_testing/instance.h"

namespace mitos::internal {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// Every path under `dir`, relative to it.
std::set<std::string> Tree(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.insert(fs::relative(e.path(), dir).string());
  }
  return out;
}

const char kMain[] = R"(// The composition root.
#include "gateway/module.h"
#include "mitos/core/main.h"
#include "orders/module.h"
#include "users/module.h"

int main(int argc, char** argv) {
  return mitos::Main(argc, argv, {
                                     users::Spec(),
                                     orders::Spec(),
                                     gateway::Spec(),
                                 });
}
)";

TEST(ModuleNameTest, AcceptsLowerSnakeCase) {
  for (const char* name : {"widgets", "stock_levels", "a", "v2", "a1_b2_c3",
                           "inventory", "users_archive"}) {
    EXPECT_EQ(InvalidModuleName(name), "") << name;
  }
}

TEST(ModuleNameTest, RefusesWhatIsNotLowerSnakeCase) {
  for (const char* name : {"Widgets", "stockLevels", "stock-levels", "_a", "a_",
                           "a__b", "1st", "a b", "a.b", "ü", "a/b"}) {
    EXPECT_NE(InvalidModuleName(name).find("lower snake case"),
              std::string::npos)
        << name;
  }
  EXPECT_EQ(InvalidModuleName(""), "is empty");
  EXPECT_EQ(InvalidModuleName(std::string(32, 'a')), "");
  EXPECT_NE(InvalidModuleName(std::string(33, 'a')).find("longer than 32"),
            std::string::npos);
}

TEST(ModuleNameTest, RefusesWhatItWouldClashWith) {
  EXPECT_EQ(InvalidModuleName("class"), "is a C++ keyword");
  EXPECT_EQ(InvalidModuleName("co_await"), "is a C++ keyword");
  EXPECT_EQ(InvalidModuleName("module"), "is a C++ keyword");
  EXPECT_EQ(InvalidModuleName("health"), "is a route of the runtime (/health)");
  EXPECT_EQ(InvalidModuleName("metrics"),
            "is a route of the runtime (/metrics)");
  EXPECT_EQ(InvalidModuleName("modules"),
            "is a route of the runtime (/modules)");
  EXPECT_EQ(InvalidModuleName("openapi"),
            "is a route of the runtime (/openapi.json)");
  EXPECT_NE(InvalidModuleName("server").find("config section"),
            std::string::npos);
  EXPECT_NE(InvalidModuleName("core").find("mitos_core"), std::string::npos);
  EXPECT_NE(InvalidModuleName("mitos").find("namespace"), std::string::npos);
  EXPECT_NE(InvalidModuleName("testing").find("GoogleTest"),
            std::string::npos);
  EXPECT_NE(InvalidModuleName("users_api").find("_api"), std::string::npos);
}

TEST(TemplateTest, RendersEveryPlaceholder) {
  EXPECT_EQ(RenderTemplate("@module@ @Module@ @MODULE@", "stock_levels"),
            "stock_levels StockLevels STOCK_LEVELS");
  EXPECT_EQ(RenderTemplate("@Module@Api", "v2_a1"), "V2A1Api");
  EXPECT_EQ(KubernetesName("stock_levels"), "stock-levels");
}

TEST(TemplateTest, HoldsAModuleInTheShapeOfProducts) {
  std::set<std::string> paths;
  for (const auto& t : ModuleTemplates()) {
    paths.insert(RenderTemplate(t.path, "widgets"));
    EXPECT_FALSE(t.text.empty()) << t.path;
  }
  EXPECT_EQ(paths, (std::set<std::string>{
                       "CMakeLists.txt", "contract.yaml",
                       "entry/widgets/module.h", "src/module.cpp",
                       "src/rules.h", "src/service.cpp", "src/service.h",
                       "src/service_test.cpp"}));
}

TEST(RegisterTest, AddsTheIncludeWhereItSortsAndTheEntryBeforeTheGateway) {
  auto r = RegisterModule(kMain, "products");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->include_added);
  EXPECT_TRUE(r->entry_added);
  EXPECT_NE(r->text.find("#include \"orders/module.h\"\n"
                         "#include \"products/module.h\"\n"
                         "#include \"users/module.h\"\n"),
            std::string::npos)
      << r->text;
  EXPECT_NE(r->text.find("                                     orders::Spec(),\n"
                         "                                     products::Spec(),\n"
                         "                                     gateway::Spec(),\n"),
            std::string::npos)
      << r->text;

  auto first = RegisterModule(kMain, "accounts");
  ASSERT_TRUE(first.ok());
  EXPECT_NE(first->text.find("#include \"accounts/module.h\"\n"
                             "#include \"gateway/module.h\"\n"),
            std::string::npos);
  auto last = RegisterModule(kMain, "zebras");
  ASSERT_TRUE(last.ok());
  EXPECT_NE(last->text.find("#include \"users/module.h\"\n"
                            "#include \"zebras/module.h\"\n\n"),
            std::string::npos);
}

TEST(RegisterTest, TwiceChangesNothing) {
  auto once = RegisterModule(kMain, "products");
  ASSERT_TRUE(once.ok());
  auto twice = RegisterModule(once->text, "products");
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(twice->include_added);
  EXPECT_FALSE(twice->entry_added);
  EXPECT_EQ(twice->text, once->text);
  auto known = RegisterModule(kMain, "users");
  ASSERT_TRUE(known.ok());
  EXPECT_FALSE(known->include_added || known->entry_added);
  EXPECT_EQ(known->text, kMain);
}

TEST(RegisterTest, WithoutAGatewayTheEntryGoesLast) {
  const std::string main =
      "#include \"mitos/core/main.h\"\n#include \"users/module.h\"\n\n"
      "int main(int argc, char** argv) {\n"
      "  return mitos::Main(argc, argv, {\n"
      "    users::Spec()\n"
      "  });\n}\n";
  auto r = RegisterModule(main, "widgets");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->text.find("    users::Spec(),\n    widgets::Spec(),\n  });"),
            std::string::npos)
      << r->text;
}

TEST(RegisterTest, RefusesAFileWithoutIncludesOrList) {
  EXPECT_EQ(RegisterModule("int main() {}\n", "widgets").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RegisterModule("#include \"users/module.h\"\nint main() {}\n",
                           "widgets")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(RegisterTest, EditsTheRepositorysOwnCompositionRoot) {
  const std::string main = Read(fs::path(MITOS_SOURCE_DIR) / "app/main.cpp");
  auto r = RegisterModule(main, "zz_probe");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->include_added && r->entry_added);
  EXPECT_NE(r->text.find("#include \"zz_probe/module.h\"\n"), std::string::npos);
  EXPECT_NE(r->text.find("zz_probe::Spec(),\n"), std::string::npos);
  EXPECT_LT(r->text.find("zz_probe::Spec()"), r->text.find("gateway::Spec()"));
}

class NewModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() / "modules" / "users");
    Write(dir_.path() / "app" / "main.cpp", kMain);
  }
  int Run(const std::string& name, bool register_module = true) {
    out_.str("");
    err_.str("");
    return NewModule({name, register_module, dir_.path()}, out_, err_);
  }
  mitos::testing::TempDir dir_;
  std::ostringstream out_, err_;
};

TEST_F(NewModuleTest, WritesTheModuleAndRegistersIt) {
  ASSERT_EQ(Run("stock_levels"), 0) << err_.str();
  const fs::path m = dir_.path() / "modules" / "stock_levels";
  EXPECT_TRUE(fs::is_regular_file(m / "entry/stock_levels/module.h"));
  EXPECT_NE(Read(m / "contract.yaml").find("module: stock_levels\n"),
            std::string::npos);
  EXPECT_NE(Read(m / "src/service.h").find("class StockLevelsService"),
            std::string::npos);
  for (const auto& p : Tree(m)) {
    if (fs::is_regular_file(m / p)) {
      EXPECT_EQ(Read(m / p).find('@'), std::string::npos) << p;
    }
  }
  const std::string main = Read(dir_.path() / "app/main.cpp");
  EXPECT_NE(main.find("#include \"stock_levels/module.h\""), std::string::npos);
  EXPECT_NE(main.find("stock_levels::Spec(),"), std::string::npos);
  EXPECT_NE(out_.str().find("Registered it in app/main.cpp"), std::string::npos);
  EXPECT_NE(out_.str().find("../../base/stock-levels"), std::string::npos);
  // Nothing else: no temporary folder or file is left.
  EXPECT_EQ(Tree(dir_.path()).count("modules/stock_levels"), 1u);
  for (const auto& p : Tree(dir_.path())) {
    EXPECT_EQ(p.find("mitos-new"), std::string::npos) << p;
  }
}

TEST_F(NewModuleTest, NoRegisterLeavesMainAlone) {
  ASSERT_EQ(Run("widgets", /*register_module=*/false), 0) << err_.str();
  EXPECT_EQ(Read(dir_.path() / "app/main.cpp"), kMain);
  EXPECT_NE(out_.str().find("Not registered (--no-register)"),
            std::string::npos);
}

TEST_F(NewModuleTest, RefusalsWriteNothing) {
  const auto before = Tree(dir_.path());
  EXPECT_EQ(Run("Widgets"), 2);
  EXPECT_NE(err_.str().find("\"Widgets\" cannot name a module"),
            std::string::npos);
  EXPECT_EQ(Run("health"), 2);
  EXPECT_EQ(Run("users"), 2);
  EXPECT_NE(err_.str().find("modules/users already exists"), std::string::npos);
  Write(dir_.path() / "app" / "main.cpp", "int main() {}\n");
  EXPECT_EQ(Run("widgets"), 2);
  EXPECT_NE(err_.str().find("--no-register"), std::string::npos);
  EXPECT_EQ(Tree(dir_.path()), before);
  fs::remove_all(dir_.path() / "modules");
  EXPECT_EQ(Run("widgets"), 2);
  EXPECT_NE(err_.str().find("root of a Mitos repository"), std::string::npos);
}

}  // namespace
}  // namespace mitos::internal
