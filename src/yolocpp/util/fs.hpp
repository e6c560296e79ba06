// Filesystem helpers. Every file that must never be half-written (checkpoints, caches, archives) goes
// through AtomicFile / atomic_write: data lands in a temporary file beside the target, then rename(2).
#pragma once
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace yolocpp::util {

namespace fs = std::filesystem;

// Writes to "<path>.tmp.<pid>.<n>" and renames over `path` on commit(). Destroyed without commit() -> the
// temporary file is removed and `path` is untouched.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const fs::path& temp_path() const { return tmp_; }  // for libraries that want a file name
  std::ofstream& stream();                             // opened lazily, binary
  void commit();                                       // flush, fsync, rename into place

 private:
  fs::path path_, tmp_;
  std::ofstream out_;
  bool done_ = false;
};

void atomic_write(const fs::path& path, std::string_view data);
std::string read_file(const fs::path& path);  // throws IoError naming the path
std::string sha256_file(const fs::path& path);
std::string sha256_hex(std::string_view data);
fs::path cache_dir();  // $YOLOCPP_CACHE_DIR, else $XDG_CACHE_HOME/yolocpp, else ~/.cache/yolocpp
// False for a folder with no write bits or on a read-only mount, even as root (whom access(2) lets write
// anywhere): a dataset marked read-only is never written into.
bool folder_writable(const fs::path& dir);

}  // namespace yolocpp::util
