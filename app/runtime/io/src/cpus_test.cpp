#include "mitos/io/cpus.h"

#include <sched.h>

#include <gtest/gtest.h>

namespace mitos {
namespace {

TEST(CpuQuotaTest, ReadsCgroupV2CpuMax) {
  EXPECT_DOUBLE_EQ(*CpuQuotaV2("150000 100000\n"), 1.5);
  EXPECT_DOUBLE_EQ(*CpuQuotaV2("100000 100000"), 1.0);
  EXPECT_FALSE(CpuQuotaV2("max 100000\n").has_value());
  EXPECT_FALSE(CpuQuotaV2("").has_value());
  EXPECT_FALSE(CpuQuotaV2("100000").has_value());
  EXPECT_FALSE(CpuQuotaV2("100000 0").has_value());
  EXPECT_FALSE(CpuQuotaV2("abc 100000").has_value());
}

TEST(CpuQuotaTest, ReadsCgroupV1Quota) {
  EXPECT_DOUBLE_EQ(*CpuQuotaV1("50000\n", "100000\n"), 0.5);
  EXPECT_DOUBLE_EQ(*CpuQuotaV1("400000", "100000"), 4.0);
  EXPECT_FALSE(CpuQuotaV1("-1\n", "100000\n").has_value());
  EXPECT_FALSE(CpuQuotaV1("", "100000").has_value());
  EXPECT_FALSE(CpuQuotaV1("50000", "x").has_value());
}

TEST(UsableCpusTest, TheQuotaLowersTheAffinityRoundedUp) {
  EXPECT_EQ(UsableCpus(64, 1.0), 1);
  EXPECT_EQ(UsableCpus(64, 1.5), 2);
  EXPECT_EQ(UsableCpus(64, 0.1), 1);
  EXPECT_EQ(UsableCpus(64, 2.0000001), 2);
  EXPECT_EQ(UsableCpus(2, 8.0), 2);
  EXPECT_EQ(UsableCpus(16, std::nullopt), 16);
  EXPECT_EQ(UsableCpus(0, std::nullopt), 1);
}

TEST(UsableCpusTest, ThisProcessIsBoundByItsAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const int n = UsableCpus();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, CPU_COUNT(&set));
}

}  // namespace
}  // namespace mitos
