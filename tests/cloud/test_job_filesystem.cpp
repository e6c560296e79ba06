// filesystem=NAME: a Lambda persistent filesystem attached at launch in its own region. The dataset archive and
// the yolocpp binary (bootstrap=upload; the source build goes to the same place) are kept on it, so a second job
// on a NEW instance, whose local disk starts empty, uploads neither. The fake mounts the filesystem only on
// instances that attached it, only while they run, and wipes the instance's disk (the sshd user's HOME) when
// the instance terminates, so whatever the second job finds can only have come from the filesystem.
#include "cloud/job_fixture.hpp"

namespace yolocpp::test {
namespace {

class CloudJobFs : public CloudJob {
 protected:
  void fake_options(FakeLambda::Options& o) const override {
    o.nfs_dir = (nfs.path() / "lambda-nfs").string();
    o.wipe_home_on_terminate = true;
  }
  TempDir nfs;
};

TEST_F(CloudJobFs, SecondJobWithTheSameFilesystemUploadsNeitherDatasetNorBinary) {
  auto first = run_cmd(cli("cloud train " + cloud_args("fs1", 1) + " filesystem=aoe2data filesystem_create=True"));
  ASSERT_EQ(first.rc, 0) << first.out;
  EXPECT_NE(first.out.find("created filesystem aoe2data in us-west-2"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("uploaded dataset"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("(uploaded "), std::string::npos) << first.out;  // the binary
  auto fss = fake->filesystems();
  ASSERT_EQ(fss.size(), 1u);
  EXPECT_EQ(fss[0].region, "us-west-2");  // the first region with capacity for the type
  auto insts = fake->instances();
  ASSERT_EQ(insts.size(), 1u);
  EXPECT_EQ(insts[0].region, fss[0].region);
  EXPECT_EQ(insts[0].file_systems, std::vector<std::string>{"aoe2data"});
  // The instance is gone with its disk; the filesystem holds the archive and the binary, and is unmounted.
  EXPECT_FALSE(fs::exists(sshd->home() / "yolocpp" / "data"));
  EXPECT_FALSE(fs::exists(sshd->home() / "yolocpp" / "bin"));
  fs::path store = nfs.path() / "lambda-nfs" / ".store" / fss[0].id / "yolocpp";
  EXPECT_FALSE(fs::is_empty(store / "data"));
  EXPECT_FALSE(fs::is_empty(store / "bin"));
  EXPECT_FALSE(fs::exists(fss[0].mount_point));
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/fs1/weights/best.pt"));

  auto second = run_cmd(cli("cloud train " + cloud_args("fs2", 1) + " filesystem=aoe2data"));
  ASSERT_EQ(second.rc, 0) << second.out;
  EXPECT_NE(second.out.find("dataset already on the remote"), std::string::npos) << second.out;
  EXPECT_EQ(second.out.find("uploaded dataset"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("already there"), std::string::npos) << second.out;  // the binary
  EXPECT_EQ(second.out.find("(uploaded "), std::string::npos) << second.out;
  EXPECT_EQ(fake->count("filesystem-create"), 1);
  ASSERT_EQ(fake->instances().size(), 2u);
  EXPECT_EQ(fake->instances()[1].file_systems, std::vector<std::string>{"aoe2data"});
  EXPECT_TRUE(exists_nonempty(work / "runs/detect/fs2/weights/best.pt"));
  // Each phase's time, for the record (the cost table both jobs print).
  for (const auto* out : {&first.out, &second.out}) {
    auto at = out->rfind("phase        |");
    if (at != std::string::npos)
      std::printf("[ info ] %s job:\n%s", out == &first.out ? "first" : "second",
                  out->substr(at, out->find("(gpu_", at) - at).c_str());
  }
  // The control: the same job without the filesystem starts from an empty disk and uploads both again.
  auto third = run_cmd(cli("cloud train " + cloud_args("fs3", 1)));
  ASSERT_EQ(third.rc, 0) << third.out;
  EXPECT_NE(third.out.find("uploaded dataset"), std::string::npos) << third.out;
}

TEST_F(CloudJobFs, FilesystemSettingsRefusedBeforeAnyLaunch) {
  fake->add_filesystem("east", "us-east-1");
  fake->add_filesystem("berlin", "europe-central-1");  // no A100 capacity there in the fake's catalogue
  struct Case { std::string extra, expect; };
  for (const Case& c : {Case{"filesystem=nope", "has no filesystem of that name (it has: east (us-east-1), berlin"},
                        Case{"filesystem=east region=us-west-2", "use region=us-east-1"},
                        Case{"filesystem=berlin", "no capacity for gpu_1x_a100_sxm4 in europe-central-1"},
                        Case{"filesystem=9lives", "not a valid Lambda filesystem name"},
                        Case{"filesystem=east host=" + sshd->host_spec(), "a host= machine keeps its own disk"}}) {
    auto r = run_cmd(cli("cloud train " + cloud_args("ok", 1) + " " + c.extra));
    EXPECT_NE(r.rc, 0) << c.extra << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.extra << "\n" << r.out;
  }
  EXPECT_EQ(fake->launch_posts(), 0);
  EXPECT_EQ(fake->filesystems().size(), 2u);
}

}  // namespace
}  // namespace yolocpp::test
