#include "mitos/http/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "mitos/base/status.h"

namespace mitos {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using json = nlohmann::json;

// Matches a FieldError with the given field and message.
auto IsFieldError(const std::string& field, const std::string& message) {
  return ::testing::AllOf(Field(&FieldError::field, field),
                          Field(&FieldError::message, message));
}

TEST(ObjectValidatorTest, AcceptsValidObject) {
  json obj = {{"name", "Ada"}, {"age", 36}, {"tags", json::array({"a"})}};
  ObjectValidator v(obj);
  v.RejectUnknown({"name", "age", "tags"});
  EXPECT_EQ(v.String("name", true), "Ada");
  EXPECT_EQ(v.Int("age", true), 36);
  const json* tags = v.Array("tags", true);
  ASSERT_NE(tags, nullptr);
  EXPECT_EQ(*tags, json::array({"a"}));
  EXPECT_TRUE(v.ok());
  EXPECT_THAT(v.errors(), IsEmpty());
}

TEST(ObjectValidatorTest, RejectsEveryUnknownField) {
  json obj = {{"name", "Ada"}, {"admin", true}, {"role", "x"}};
  ObjectValidator v(obj);
  v.RejectUnknown({"name", "email"});
  EXPECT_FALSE(v.ok());
  EXPECT_THAT(v.errors(),
              UnorderedElementsAre(IsFieldError("admin", "unknown field"),
                                   IsFieldError("role", "unknown field")));
}

TEST(ObjectValidatorTest, MissingRequiredFieldIsAnError) {
  json obj = json::object();
  ObjectValidator v(obj);
  EXPECT_EQ(v.String("email", true), std::nullopt);
  EXPECT_EQ(v.Int("age", true), std::nullopt);
  EXPECT_EQ(v.Array("items", true), nullptr);
  EXPECT_THAT(v.errors(), ElementsAre(IsFieldError("email", "is required"),
                                      IsFieldError("age", "is required"),
                                      IsFieldError("items", "is required")));
}

TEST(ObjectValidatorTest, MissingOptionalFieldIsNotAnError) {
  json obj = json::object();
  ObjectValidator v(obj);
  EXPECT_EQ(v.String("nickname", false), std::nullopt);
  EXPECT_EQ(v.Int("age", false), std::nullopt);
  EXPECT_EQ(v.Array("tags", false), nullptr);
  EXPECT_TRUE(v.ok());
}

TEST(ObjectValidatorTest, NullIsAWrongTypeEvenWhenOptional) {
  json obj = {{"nickname", nullptr}, {"age", nullptr}, {"tags", nullptr}};
  ObjectValidator v(obj);
  EXPECT_EQ(v.String("nickname", false), std::nullopt);
  EXPECT_EQ(v.Int("age", false), std::nullopt);
  EXPECT_EQ(v.Array("tags", false), nullptr);
  EXPECT_THAT(v.errors(),
              ElementsAre(IsFieldError("nickname", "must be a string"),
                          IsFieldError("age", "must be an integer"),
                          IsFieldError("tags", "must be an array")));
}

TEST(ObjectValidatorTest, StringRejectsOtherTypes) {
  json obj = {
      {"a", 1}, {"b", true}, {"c", json::array()}, {"d", json::object()}};
  ObjectValidator v(obj);
  for (const char* name : {"a", "b", "c", "d"}) {
    EXPECT_EQ(v.String(name, true), std::nullopt) << name;
  }
  EXPECT_THAT(v.errors(), ElementsAre(IsFieldError("a", "must be a string"),
                                      IsFieldError("b", "must be a string"),
                                      IsFieldError("c", "must be a string"),
                                      IsFieldError("d", "must be a string")));
}

TEST(ObjectValidatorTest, IntRejectsFloatsStringsAndBooleans) {
  json obj = json::parse(R"({"f": 1.5, "g": 2.0, "s": "3", "b": true})");
  ObjectValidator v(obj);
  EXPECT_EQ(v.Int("f", true), std::nullopt);
  EXPECT_EQ(v.Int("g", true), std::nullopt);
  EXPECT_EQ(v.Int("s", true), std::nullopt);
  EXPECT_EQ(v.Int("b", true), std::nullopt);
  EXPECT_THAT(v.errors(), ElementsAre(IsFieldError("f", "must be an integer"),
                                      IsFieldError("g", "must be an integer"),
                                      IsFieldError("s", "must be an integer"),
                                      IsFieldError("b", "must be an integer")));
}

TEST(ObjectValidatorTest, IntAcceptsTheInt64Range) {
  json obj = json::parse(
      R"({"max": 9223372036854775807, "min": -9223372036854775808,
          "neg": -5, "zero": 0})");
  ObjectValidator v(obj);
  EXPECT_EQ(v.Int("max", true), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(v.Int("min", true), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(v.Int("neg", true), -5);
  EXPECT_EQ(v.Int("zero", true), 0);
  EXPECT_TRUE(v.ok());
}

TEST(ObjectValidatorTest, IntRejectsUnsignedAboveInt64Max) {
  json obj = json::parse(
      R"({"big": 9223372036854775808, "huge": 18446744073709551615})");
  ObjectValidator v(obj);
  EXPECT_EQ(v.Int("big", true), std::nullopt);
  EXPECT_EQ(v.Int("huge", true), std::nullopt);
  EXPECT_THAT(v.errors(), ElementsAre(IsFieldError("big", "is out of range"),
                                      IsFieldError("huge", "is out of range")));
}

TEST(ObjectValidatorTest, ArrayRejectsOtherTypes) {
  json obj = {{"s", "x"}, {"o", json::object()}, {"n", 3}};
  ObjectValidator v(obj);
  EXPECT_EQ(v.Array("s", true), nullptr);
  EXPECT_EQ(v.Array("o", true), nullptr);
  EXPECT_EQ(v.Array("n", true), nullptr);
  EXPECT_THAT(v.errors(), ElementsAre(IsFieldError("s", "must be an array"),
                                      IsFieldError("o", "must be an array"),
                                      IsFieldError("n", "must be an array")));
}

TEST(ObjectValidatorTest, ArrayReturnsPointerIntoTheObject) {
  json obj = {{"items", json::array({1, 2, 3})}};
  ObjectValidator v(obj);
  const json* items = v.Array("items", true);
  ASSERT_NE(items, nullptr);
  EXPECT_EQ(items, &obj["items"]);
  EXPECT_EQ(items->size(), 3u);
}

TEST(ObjectValidatorTest, PrefixIsPrependedToFieldNames) {
  json obj = {{"qty", "two"}, {"extra", 1}};
  ObjectValidator v(obj, "items[2].");
  v.RejectUnknown({"qty", "sku"});
  v.Int("qty", true);
  v.String("sku", true);
  v.AddError("custom", "is odd");
  EXPECT_THAT(v.errors(),
              ElementsAre(IsFieldError("items[2].extra", "unknown field"),
                          IsFieldError("items[2].qty", "must be an integer"),
                          IsFieldError("items[2].sku", "is required"),
                          IsFieldError("items[2].custom", "is odd")));
}

TEST(ObjectValidatorTest, ToStatusIsInvalidArgumentWithAllErrors) {
  json obj = {{"x", 1}};
  ObjectValidator v(obj);
  v.RejectUnknown({});
  v.String("name", true);
  ASSERT_FALSE(v.ok());
  Status s = v.ToStatus();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(s.message().empty());
  EXPECT_THAT(s.field_errors(),
              ElementsAre(IsFieldError("x", "unknown field"),
                          IsFieldError("name", "is required")));
}

TEST(Utf8LengthTest, CountsCodePoints) {
  EXPECT_EQ(Utf8Length(""), 0u);
  EXPECT_EQ(Utf8Length("abc"), 3u);
  EXPECT_EQ(Utf8Length("h\xC3\xA9llo"), 5u);              // héllo
  EXPECT_EQ(Utf8Length("\xE6\x97\xA5\xE6\x9C\xAC"), 2u);  // 日本
  EXPECT_EQ(Utf8Length("\xF0\x9F\x98\x80!"), 2u);         // U+1F600 + '!'
  EXPECT_EQ(Utf8Length("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), 4u);
  // Byte length differs from code point length.
  std::string mixed = "\xE2\x82\xAC";  // €
  EXPECT_EQ(mixed.size(), 3u);
  EXPECT_EQ(Utf8Length(mixed), 1u);
}

TEST(TrimAsciiTest, TrimsLeadingAndTrailingWhitespace) {
  EXPECT_EQ(TrimAscii(""), "");
  EXPECT_EQ(TrimAscii("   "), "");
  EXPECT_EQ(TrimAscii("abc"), "abc");
  EXPECT_EQ(TrimAscii("  abc  "), "abc");
  EXPECT_EQ(TrimAscii("\t\r\n\f\vabc\v\f\n\r\t"), "abc");
  EXPECT_EQ(TrimAscii(" a b "), "a b");
  EXPECT_EQ(TrimAscii("x\t"), "x");
}

TEST(TrimAsciiTest, KeepsNonAsciiSpace) {
  // U+00A0 NO-BREAK SPACE is not ASCII white space.
  EXPECT_EQ(TrimAscii("\xC2\xA0x\xC2\xA0"), "\xC2\xA0x\xC2\xA0");
}

TEST(ParsePositiveIdTest, AcceptsPositiveDecimals) {
  EXPECT_EQ(ParsePositiveId("1"), 1);
  EXPECT_EQ(ParsePositiveId("42"), 42);
  EXPECT_EQ(ParsePositiveId("1000000"), 1000000);
  EXPECT_EQ(ParsePositiveId("9223372036854775807"),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParsePositiveId("9223372036854775806"),
            std::numeric_limits<int64_t>::max() - 1);
}

class ParsePositiveIdRejectTest : public ::testing::TestWithParam<const char*> {
};

TEST_P(ParsePositiveIdRejectTest, Rejects) {
  EXPECT_EQ(ParsePositiveId(GetParam()), std::nullopt)
      << "input: \"" << GetParam() << "\"";
}

INSTANTIATE_TEST_SUITE_P(BadIds, ParsePositiveIdRejectTest,
                         ::testing::Values("", "0", "00", "01", "-1", "+1",
                                           " 1", "1 ", "1a", "a1", "1.0", "0x1",
                                           "9223372036854775808",
                                           "9999999999999999999",
                                           "99999999999999999999",
                                           "18446744073709551616"));

}  // namespace
}  // namespace mitos
