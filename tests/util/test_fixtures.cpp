// tests/fixtures/: every file is the one its README lists (size and SHA-256), and, where ../shared is beside
// the checkout, byte for byte the original it was copied from.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "common/test_util.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/sha256.hpp"

namespace {

using namespace yolocpp;
namespace fs = std::filesystem;

const fs::path kRoot = fs::path(YOLOCPP_SOURCE_DIR) / "tests" / "fixtures";

struct Listed {
  std::string path;  // relative to tests/fixtures
  size_t bytes;
  std::string sha256;
};

std::vector<Listed> readme_rows() {
  const std::string md = util::read_file(kRoot / "README.md");
  const std::regex row(R"(\| `([a-z0-9_./]+)` \| (\d+) \| `([0-9a-f]{64})` \|)");
  std::vector<Listed> out;
  for (std::sregex_iterator it(md.begin(), md.end(), row), end; it != end; ++it)
    out.push_back({(*it)[1], std::stoul((*it)[2]), (*it)[3]});
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  util::Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

TEST(Fixtures, EveryFileIsListedWithItsSizeAndHash) {
  const auto rows = readme_rows();
  ASSERT_GE(rows.size(), 16u) << "tests/fixtures/README.md lists fewer files than were copied";
  std::set<std::string> listed;
  for (const auto& r : rows) {
    listed.insert(r.path);
    const std::string bytes = util::read_file(kRoot / r.path);
    EXPECT_EQ(bytes.size(), r.bytes) << r.path;
    EXPECT_EQ(sha256_hex(bytes), r.sha256) << r.path;
  }
  for (const auto& e : fs::recursive_directory_iterator(kRoot)) {
    if (!e.is_regular_file() || e.path().filename() == "README.md") continue;
    EXPECT_EQ(listed.count(fs::relative(e.path(), kRoot).generic_string()), 1u)
        << e.path() << " is not in tests/fixtures/README.md";
  }
}

TEST(Fixtures, CopiesEqualTheirSharedOriginals) {
  YOLOCPP_REQUIRE_SHARED();
  for (const auto& r : readme_rows()) {
    // ultralytics/x -> fixtures/ultralytics/x; spec/x -> spec/x
    const fs::path original =
        r.path.rfind("spec/", 0) == 0 ? test::shared_dir() / r.path : test::shared_dir() / "fixtures" / r.path;
    EXPECT_TRUE(util::read_file(original) == util::read_file(kRoot / r.path)) << r.path << " differs from " << original;
  }
}

}  // namespace
