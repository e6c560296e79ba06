// Hostile and broken datasets: yaml counts that would allocate gigabytes, labels and images that
// only look valid, archives that race, bomb, smuggle files or carry unpackable names.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "common/test_util.hpp"
#include "data/helpers.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/pack.hpp"
#include "yolocpp/data/scan.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::test;
namespace fs = std::filesystem;

namespace {

template <typename F> std::string data_error_of(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no error>";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

fs::path two_split_dataset(const fs::path& d, const std::string& extra_yaml) {
  add_sample(d, "train", "a", "0 0.5 0.5 0.2 0.2\n");
  add_sample(d, "val", "b", "0 0.5 0.5 0.2 0.2\n");
  write_text(d / "data.yaml", "train: images/train\nval: images/val\n" + extra_yaml);
  return d / "data.yaml";
}

// A .tar.gz of the given (name, bytes) entries, written with libarchive like `yolocpp pack` does.
void write_tgz(const fs::path& out, const std::vector<std::pair<std::string, std::string>>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  for (const auto& [name, data] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    ASSERT_EQ(archive_write_data(a, data.data(), data.size()), static_cast<la_ssize_t>(data.size()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string manifest_of(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string m;
  for (const auto& [name, data] : files) m += util::sha256_hex(data) + "  " + name + "\n";
  return m;
}

uint64_t bytes_under(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

uint32_t crc32(const std::string& s) {  // the PNG chunk CRC (IEEE 802.3)
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

}  // namespace

// ---- dataset yaml ----

TEST(HostileYaml, HugeNcWithoutNamesIsRefusedAtOnce) {
  TempDir t;
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path y = two_split_dataset(t.path(), "nc: 2147483647\n");
  const std::string e = data_error_of([&] { data::load_dataset_yaml(y); });
  EXPECT_NE(e.find("nc: 2147483647 is outside 1..100000"), std::string::npos) << e;
  EXPECT_LT(seconds_since(t0), 2.0);
}

TEST(HostileYaml, NamesKeyOutsideTheClassRange) {
  TempDir t;
  const fs::path y = two_split_dataset(t.path(), "names:\n  0: a\n  2147483647: b\n");
  EXPECT_NE(data_error_of([&] { data::load_dataset_yaml(y); }).find("'2147483647' is not an integer class id"),
            std::string::npos);
}

TEST(HostileYaml, ChannelsOtherThanThreeAreRefusedNotIgnored) {
  TempDir t;
  const fs::path y = two_split_dataset(t.path(), "names: [a]\nchannels: 1\n");
  EXPECT_NE(data_error_of([&] { data::load_dataset_yaml(y); }).find("channels: 1 is not supported"), std::string::npos);
  write_text(t / "three.yaml", "train: images/train\nval: images/val\nnames: [a]\nchannels: 3\n");
  EXPECT_EQ(data::load_dataset_yaml(t / "three.yaml").channels, 3);
}

// ---- labels and images ----

TEST(HostileLabels, HexFloatsAreRefusedLikeNumPy) {
  TempDir t;
  write_image(t / "a.jpg", 64, 48);
  write_text(t / "a.txt", "0 0x1p-1 0.5 0.2 0.2\n");
  auto r = data::verify_image_labels(t / "a.jpg", t / "a.txt", 1);
  EXPECT_EQ(r.state, data::LabelState::Corrupt);
  EXPECT_NE(r.message.find("non-numeric value '0x1p-1'"), std::string::npos) << r.message;
  write_text(t / "a.txt", "0 0.5 0.5 0.2 0.2\n");
  EXPECT_EQ(data::verify_image_labels(t / "a.jpg", t / "a.txt", 1).state, data::LabelState::Found);
}

TEST(HostileImages, HeaderOnlyFilesAreFoundByDecoding) {
  TempDir t;
  // A PNG whose IHDR claims 100000 x 100000 and that has no pixel data at all.
  const std::string ihdr = "IHDR" + be32(100000) + be32(100000) + std::string("\x08\x02\x00\x00\x00", 5);
  write_text(t / "bomb.png", std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + ihdr + be32(crc32(ihdr)));
  auto r = data::verify_image_labels(t / "bomb.png", t / "bomb.txt", 1);
  EXPECT_EQ(r.state, data::LabelState::Corrupt);
  EXPECT_NE(r.message.find("100000x100000"), std::string::npos) << r.message;
  // A JPEG of SOI, a baseline SOF0 for 640 x 480 x 3 and EOI: no tables, no scan.
  const std::string sof = std::string("\xff\xc0\x00\x11\x08", 5) + "\x01\xe0" "\x02\x80" "\x03" +
                          std::string("\x01\x11\x00\x02\x11\x00\x03\x11\x00", 9);
  write_text(t / "sof.jpg", std::string("\xff\xd8", 2) + sof + std::string("\xff\xd9", 2));
  r = data::verify_image_labels(t / "sof.jpg", t / "sof.txt", 1);
  EXPECT_EQ(r.state, data::LabelState::Corrupt) << r.message;
  EXPECT_NE(r.message.find("cannot be decoded"), std::string::npos) << r.message;
}

// ---- archives ----

TEST(HostilePack, ThreeProcessesUnpackingTheSameArchiveAllGetEveryImage) {
  TempDir t;
  const fs::path d = t / "ds";
  for (int i = 0; i < 128; ++i) add_sample(d, "train", "im" + std::to_string(i), "0 0.5 0.5 0.2 0.2\n", 96, 64);
  add_sample(d, "val", "v", "0 0.5 0.5 0.2 0.2\n");
  write_text(d / "data.yaml", "train: images/train\nval: images/val\nnames: [a]\n");
  const fs::path archive = t / "ds.tar.gz";
  data::pack_dataset(data::load_dataset_yaml(d / "data.yaml"), archive);
  setenv("YOLOCPP_CACHE_DIR", (t / "cache").c_str(), 1);
  std::vector<pid_t> kids;
  for (int k = 0; k < 3; ++k) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 3;
      try {
        data::DatasetInfo ds = data::load_dataset(archive.string());
        rc = ds.split("train").images.size() == 128 && data::scan_split(ds, "train", false).items.size() == 128 ? 0 : 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", k, e.what());
        rc = 2;
      }
      _exit(rc);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child exit " << (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
  for (const auto& e : fs::directory_iterator(t / "cache" / "datasets"))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << "leaked " << e.path();
  unsetenv("YOLOCPP_CACHE_DIR");
}

TEST(HostilePack, NonAsciiNamesRoundTripAndControlCharactersAreRefused) {
  TempDir t;
  const fs::path d = t / "ds";
  add_sample(d, "train", "caf\xc3\xa9-\xe7\x8c\xab", "0 0.5 0.5 0.2 0.2\n");
  add_sample(d, "val", "b", "0 0.5 0.5 0.2 0.2\n");
  write_text(d / "data.yaml", "train: images/train\nval: images/val\nnames: [a]\n");
  data::pack_dataset(data::load_dataset_yaml(d / "data.yaml"), t / "u.tar.gz");
  data::unpack(t / "u.tar.gz", t / "out");
  EXPECT_TRUE(fs::is_regular_file(t / "out" / "images" / "train" / "caf\xc3\xa9-\xe7\x8c\xab.jpg"));
  EXPECT_TRUE(fs::is_regular_file(t / "out" / "labels" / "train" / "caf\xc3\xa9-\xe7\x8c\xab.txt"));

  add_sample(d, "train", "new\nline", nullptr);
  const std::string e =
      data_error_of([&] { data::pack_dataset(data::load_dataset_yaml(d / "data.yaml"), t / "nl.tar.gz"); });
  EXPECT_NE(e.find("control character"), std::string::npos) << e;
  EXPECT_NE(e.find("new\\x0aline"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(t / "nl.tar.gz"));
}

TEST(HostilePack, ArchiveBombIsRefusedWhileUnpacking) {
  TempDir t;
  // 128 MiB of zeros (~130 KB gzipped) with a manifest that vouches for it: only the ratio limit stops it.
  const std::string zeros(size_t(128) << 20, '\0');
  const std::vector<std::pair<std::string, std::string>> files = {{"zeros.bin", zeros}};
  write_tgz(t / "bomb.tar.gz", {{"MANIFEST.sha256", manifest_of(files)}, files[0]});
  EXPECT_LT(fs::file_size(t / "bomb.tar.gz"), 1u << 20);
  const std::string e = data_error_of([&] { data::unpack(t / "bomb.tar.gz", t / "out"); });
  EXPECT_NE(e.find("archive bomb"), std::string::npos) << e;
  EXPECT_LE(bytes_under(t / "out"), uint64_t(16) << 20);
}

TEST(HostilePack, CacheFilesMustBeInTheManifestToo) {
  TempDir t;
  const std::vector<std::pair<std::string, std::string>> files = {{"data.yaml", "train: a\n"}};
  write_tgz(t / "c.tar.gz", {{"MANIFEST.sha256", manifest_of(files)}, files[0], {"labels/train.cache", "payload"}});
  const std::string e = data_error_of([&] { data::unpack(t / "c.tar.gz", t / "out"); });
  EXPECT_NE(e.find("'labels/train.cache' is not listed"), std::string::npos) << e;
}

TEST(HostilePack, CompletedCacheIsNeverRemovedAndStaleTempsAreCleaned) {
  TempDir t;
  const fs::path d = t / "ds";
  add_sample(d, "train", "a", "0 0.5 0.5 0.2 0.2\n");
  add_sample(d, "val", "b", "0 0.5 0.5 0.2 0.2\n");
  write_text(d / "data.yaml", "train: images/train\nval: images/val\nnames: [a]\n");
  data::pack_dataset(data::load_dataset_yaml(d / "data.yaml"), t / "a.tar.gz");
  setenv("YOLOCPP_CACHE_DIR", (t / "cache").c_str(), 1);
  // A crashed earlier unpack left its temp folder behind.
  const std::string h = util::sha256_file(t / "a.tar.gz").substr(0, 16);
  write_text(t / "cache" / "datasets" / (h + ".tmp.999999") / "junk", "x");
  const fs::path dest = data::unpack_cached(t / "a.tar.gz");
  EXPECT_FALSE(fs::exists(t / "cache" / "datasets" / (h + ".tmp.999999")));
  // Something written into the completed folder (a label cache) survives the next load.
  write_text(dest / "labels" / "train.cache", "kept");
  EXPECT_EQ(data::unpack_cached(t / "a.tar.gz"), dest);
  EXPECT_EQ(util::read_file(dest / "labels" / "train.cache"), "kept");
  unsetenv("YOLOCPP_CACHE_DIR");
}

TEST(HostileCheckCli, StrictExitsNonZeroOnAnyCorruptFile) {
  if (!fs::exists(YOLOCPP_BIN)) GTEST_SKIP() << "yolocpp binary not built: " YOLOCPP_BIN;
  TempDir t;
  add_sample(t.path(), "train", "a", "0 0.5 0.5 0.2 0.2\n");
  add_sample(t.path(), "val", "b", "0 0.5 0.5 0.2 0.2\n");
  // Header only: check used to call it fine (64x48 from the SOF), training would die on it.
  const std::string sof = std::string("\xff\xc0\x00\x11\x08\x00\x30\x00\x40\x03", 10) +
                          std::string("\x01\x11\x00\x02\x11\x00\x03\x11\x00", 9);
  write_text(t / "images" / "train" / "sof.jpg", std::string("\xff\xd8", 2) + sof + std::string("\xff\xd9", 2));
  write_text(t / "labels" / "train" / "sof.txt", "0 0.5 0.5 0.2 0.2\n");
  write_text(t / "data.yaml", "train: images/train\nval: images/val\nnames: [a]\n");
  auto r = yolocpp::test::yolocpp("check data=" + (t / "data.yaml").string());
  EXPECT_EQ(r.rc, 0) << r.out;  // by default corrupt files are skipped, as training skips them
  EXPECT_NE(r.out.find("corrupt (skipped)      1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sof.jpg: the header reads 64x48 but the pixel data cannot be decoded"), std::string::npos) << r.out;
  r = yolocpp::test::yolocpp("check data=" + (t / "data.yaml").string() + " strict=True");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("1 corrupt file(s) in split 'train' (strict=True)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("check: FAILED"), std::string::npos) << r.out;
}

// Found by fuzz/fuzz_unpack on the merged tree: a manifest line naming a file longer than the file system
// allows made std::filesystem throw its own error (an uncaught filesystem_error, not one clear line).
TEST(HostilePack, ManifestNameTooLongForTheFileSystemIsOneDataError) {
  TempDir t;
  const std::string huge(5000, 'a');
  const std::string manifest = std::string(64, '0') + "  " + huge + "\n";
  const fs::path a = t / "long.tar.gz";
  write_tgz(a, {{"MANIFEST.sha256", manifest}, {"dataset.yaml", "train: images\nval: images\n"}});
  const std::string e = data_error_of([&] { data::unpack(a, t / "out"); });
  EXPECT_NE(e.find("MANIFEST.sha256"), std::string::npos) << e;
}

// Found by fuzz/fuzz_unpack: a damaged gzip stream for which libarchive reports a NULL error string (the
// message used to be built from it: strlen(NULL)).
TEST(HostilePack, FuzzFoundArchiveWithoutLibarchiveErrorString) {
  TempDir t;
  const fs::path a = fs::path(YOLOCPP_SOURCE_DIR) / "tests" / "data" / "hostile" / "fuzz-unpack-null-error.tar.gz";
  ASSERT_TRUE(fs::exists(a));
  const std::string e = data_error_of([&] { data::unpack(a, t / "out"); });
  EXPECT_NE(e.find(a.string()), std::string::npos) << e;
}
