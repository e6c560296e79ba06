#include <gtest/gtest.h>

#include "common/test_util.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;

TEST(Fs, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  test::TempDir d;
  auto p = d / "x.bin";
  util::atomic_write(p, "first");
  util::atomic_write(p, "second!");
  EXPECT_EQ(util::read_file(p), "second!");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(d.path())) { (void)e; ++n; }
  EXPECT_EQ(n, 1);
}

TEST(Fs, AtomicFileWithoutCommitKeepsOldContent) {
  test::TempDir d;
  auto p = d / "ckpt.pt";
  util::atomic_write(p, "good");
  {
    util::AtomicFile f(p);
    f.stream() << "half-written";
    // destroyed without commit(): an interrupted writer
  }
  EXPECT_EQ(util::read_file(p), "good");
}

TEST(Fs, Sha256KnownVectors) {
  EXPECT_EQ(util::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(util::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Fs, ReadMissingFileNamesThePath) {
  try {
    util::read_file("/nonexistent/dir/file.txt");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/file.txt"), std::string::npos);
  }
}
