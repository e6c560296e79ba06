// `yolocpp check` and `yolocpp pack` through the real binary (skipped when it has not been built: this
// unit-test target does not build the CLI, which links every module).
#include <gtest/gtest.h>

#include "common/test_util.hpp"
#include "data/helpers.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp::test;
namespace fs = std::filesystem;

#define REQUIRE_CLI()                                                             \
  do {                                                                            \
    if (!fs::exists(YOLOCPP_BIN)) GTEST_SKIP() << "yolocpp binary not built: " YOLOCPP_BIN; \
  } while (0)

TEST(CheckCli, TableCountsAndCorruptFiles) {
  REQUIRE_CLI();
  TempDir t;
  add_sample(t.path(), "train", "a", "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n");
  add_sample(t.path(), "train", "b", nullptr);
  add_sample(t.path(), "train", "bad", "7 0.5 0.5 0.2 0.2\n");
  add_sample(t.path(), "val", "c", "1 0.5 0.5 0.2 0.2\n", 100, 30);
  write_text(t / "data.yaml", "train: images/train\nval: images/val\nnames: [alpha, beta]\n");
  auto r = yolocpp::test::yolocpp("check data=" + (t / "data.yaml").string());
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("instances              3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("backgrounds            1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("corrupt (skipped)      1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("beta  |         2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exceeds dataset class count 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("min 100x30, max 100x30"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("check: OK"), std::string::npos) << r.out;

  write_text(t / "nc.yaml", "train: images/train\nval: images/val\nnc: 3\nnames: [alpha, beta]\n");
  r = yolocpp::test::yolocpp("check data=" + (t / "nc.yaml").string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("does not match"), std::string::npos) << r.out;
}

TEST(PackCli, WritesArchiveThatChecks) {
  REQUIRE_CLI();
  TempDir t;
  add_sample(t / "ds", "train", "a", "0 0.5 0.5 0.2 0.2\n");
  add_sample(t / "ds", "val", "c", "0 0.5 0.5 0.2 0.2\n");
  write_text(t / "ds/data.yaml", "train: images/train\nval: images/val\nnames: [alpha]\n");
  auto r = yolocpp::test::yolocpp("pack data=" + (t / "ds").string() + " out=" + (t / "x.tar.gz").string());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find(yolocpp::util::sha256_file(t / "x.tar.gz")), std::string::npos) << r.out;
  r = run_cmd("YOLOCPP_CACHE_DIR='" + (t / "cache").string() + "' " YOLOCPP_BIN " check data=" +
              (t / "x.tar.gz").string());
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find((t / "cache/datasets").string()), std::string::npos) << r.out;
  r = yolocpp::test::yolocpp("pack data=" + (t / "ds").string() + " out=" + (t / "x.zip").string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find(".tar.gz"), std::string::npos) << r.out;
}

TEST(CheckCli, RealDatasetsSummary) {
  REQUIRE_CLI();
  YOLOCPP_REQUIRE_SHARED();
  for (const char* name : {"coco128", "coc_buildings", "clash_royale_units"}) {
    auto r = yolocpp::test::yolocpp("check data=" + (datasets_dir() / name).string());
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("check: OK"), std::string::npos) << r.out;
  }
  auto r = yolocpp::test::yolocpp("check data=" + (datasets_dir() / "coco128").string());
  EXPECT_NE(r.out.find("instances              929"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("instances              898"), std::string::npos) << r.out;
}
