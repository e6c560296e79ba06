#include "yolocpp/util/fs.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/sha256.hpp"

namespace yolocpp::util {

namespace {
std::atomic<unsigned> g_counter{0};
}

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  std::ostringstream s;
  s << path_.string() << ".tmp." << ::getpid() << "." << g_counter++;
  tmp_ = s.str();
  if (path_.has_parent_path()) fs::create_directories(path_.parent_path());
}

AtomicFile::~AtomicFile() {
  if (!done_) {
    if (out_.is_open()) out_.close();
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

std::ofstream& AtomicFile::stream() {
  if (!out_.is_open()) {
    out_.open(tmp_, std::ios::binary | std::ios::trunc);
    if (!out_) throw IoError("cannot write " + tmp_.string() + ": check that the folder exists and is writable");
  }
  return out_;
}

void AtomicFile::commit() {
  if (out_.is_open()) {
    out_.flush();
    bool ok = static_cast<bool>(out_);
    out_.close();
    if (!ok) throw IoError("writing " + path_.string() + " failed (disk full?)");
  }
  int fd = ::open(tmp_.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) throw IoError("cannot move " + tmp_.string() + " to " + path_.string() + ": " + ec.message());
  done_ = true;
}

void atomic_write(const fs::path& path, std::string_view data) {
  AtomicFile f(path);
  f.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  f.commit();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read " + path.string() + ": no such file or not readable");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read " + path.string() + ": no such file or not readable");
  Sha256 h;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    h.update(buf, static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

fs::path cache_dir() {
  if (const char* d = std::getenv("YOLOCPP_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return fs::path(d) / "yolocpp";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "yolocpp";
  return fs::temp_directory_path() / "yolocpp-cache";
}

bool folder_writable(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if ((st.st_mode & 0222) == 0) return false;
  struct statvfs vs {};
  if (::statvfs(dir.c_str(), &vs) == 0 && (vs.f_flag & ST_RDONLY)) return false;
  return ::access(dir.c_str(), W_OK) == 0;
}

}  // namespace yolocpp::util
