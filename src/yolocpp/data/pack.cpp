#include "yolocpp/data/pack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/file.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::data {

namespace {

constexpr const char* kManifest = "MANIFEST.sha256";
constexpr const char* kComplete = ".yolocpp-unpacked";
constexpr time_t kFixedMtime = 946684800;  // 2000-01-01: fixed so identical datasets give identical bytes
// Images are already compressed, so a real dataset archive unpacks to about its own size; 100x is room for
// label-heavy sets, and far below what a zip-bomb style archive (1 GiB of zeros in 2.4 MB) declares.
constexpr uint64_t kMaxUnpackRatio = 100;
constexpr uint64_t kMinUnpackAllowance = uint64_t(16) << 20;

// Control characters (a newline, an escape) in a name break the manifest's one-name-per-line format and
// terminals; they are refused when packing and when unpacking.
// libarchive leaves the error string NULL for some failures (found by fuzz/fuzz_unpack).
std::string archive_error(archive* a) {
  const char* e = archive_error_string(a);
  return e ? e : "unknown libarchive error";
}

bool has_control_char(const std::string& n) {
  for (unsigned char c : n)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// libarchive converts names through the thread's LC_CTYPE: in the "C" locale a CLI runs in, a non-ASCII
// name fails to read and crashes libarchive 3.6's pax writer. A UTF-8 LC_CTYPE for this thread only, while
// archives are written or read, keeps names as UTF-8 bytes without touching the process locale.
class Utf8Names {
 public:
  Utf8Names() {
    for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"})
      if ((loc_ = newlocale(LC_CTYPE_MASK, name, static_cast<locale_t>(0)))) break;
    if (loc_) old_ = uselocale(loc_);
  }
  ~Utf8Names() {
    if (!loc_) return;
    uselocale(old_);
    freelocale(loc_);
  }
  Utf8Names(const Utf8Names&) = delete;
  Utf8Names& operator=(const Utf8Names&) = delete;
  bool ok() const { return loc_ != static_cast<locale_t>(0); }

 private:
  locale_t loc_ = static_cast<locale_t>(0);
  locale_t old_ = static_cast<locale_t>(0);
};

bool ascii(const std::string& n) {
  for (unsigned char c : n)
    if (c >= 0x80) return false;
  return true;
}

std::string printable(const std::string& n) {
  std::string out;
  for (unsigned char c : n) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out.push_back(static_cast<char>(c));
  }
  return out;
}

// Name inside the archive: relative to the dataset root, or "_external/<absolute path>" for files that
// live outside it (kept unique and still mapping images/ -> labels/ the same way).
std::string arcname(const fs::path& p, const fs::path& root) {
  fs::path rel = p.lexically_normal().lexically_relative(root);
  std::string r = rel.generic_string();
  if (!rel.empty() && r != ".." && r.rfind("../", 0) != 0) return r;
  if (rel.empty() || r == ".") return ".";
  return "_external" + fs::absolute(p).lexically_normal().generic_string();
}

std::string yaml_text(const DatasetInfo& ds, const std::map<std::string, std::vector<std::string>>& splits) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "path" << YAML::Value << ".";
  for (const char* k : {"train", "val", "test", "minival"}) {
    auto it = splits.find(k);
    if (it == splits.end()) continue;
    e << YAML::Key << k << YAML::Value;
    if (it->second.size() == 1) {
      e << it->second[0];
    } else {
      e << YAML::BeginSeq;
      for (const auto& s : it->second) e << s;
      e << YAML::EndSeq;
    }
  }
  e << YAML::Key << "nc" << YAML::Value << ds.nc;
  e << YAML::Key << "names" << YAML::Value << YAML::BeginMap;
  for (size_t i = 0; i < ds.names.size(); ++i) e << YAML::Key << i << YAML::Value << ds.names[i];
  e << YAML::EndMap;
  if (ds.channels != 3) e << YAML::Key << "channels" << YAML::Value << ds.channels;
  e << YAML::EndMap;
  return "# Packed by `yolocpp pack`; paths are relative to this file's folder.\n" + std::string(e.c_str()) + "\n";
}

struct ArchiveWriter {
  archive* a = archive_write_new();
  ~ArchiveWriter() { archive_write_free(a); }
  void check(int rc, const fs::path& out) {
    if (rc < ARCHIVE_OK) throw IoError("writing archive " + out.string() + ": " + archive_error(a));
  }
};

void add_entry(ArchiveWriter& w, const fs::path& out, const std::string& name, const std::string& data) {
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
  // File names are taken as UTF-8 whatever the process locale (the CLI runs in the "C" locale, where
  // libarchive could not convert a non-ASCII name); pax headers store them as UTF-8.
  archive_entry_set_pathname_utf8(e.get(), name.c_str());
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0644);
  archive_entry_set_mtime(e.get(), kFixedMtime, 0);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  w.check(archive_write_header(w.a, e.get()), out);
  if (!data.empty() && archive_write_data(w.a, data.data(), data.size()) < 0)
    throw IoError("writing archive " + out.string() + ": " + archive_error(w.a));
}

bool safe_name(const std::string& n) {
  if (n.empty() || n[0] == '/') return false;
  fs::path p(n);
  for (const auto& c : p)
    if (c == "..") return false;
  return true;
}

}  // namespace

PackResult pack_dataset(const DatasetInfo& ds, const fs::path& out) {
  // name -> source file (or generated text); std::map keeps entries sorted for a deterministic archive.
  std::map<std::string, fs::path> files;
  std::map<std::string, std::string> generated;
  std::map<std::string, std::vector<std::string>> split_entries;
  for (const auto& sp : ds.splits) {
    bool all_dirs = true;
    for (const auto& s : sp.sources) all_dirs = all_dirs && fs::is_directory(s);
    for (const auto& im : sp.images) {
      files[arcname(im, ds.root)] = im;
      fs::path lb = label_path_for(im);
      if (fs::is_regular_file(lb)) files[arcname(lb, ds.root)] = lb;
    }
    if (all_dirs) {
      for (const auto& s : sp.sources) split_entries[sp.name].push_back(arcname(s, ds.root));
    } else {
      // A .txt list becomes a fresh list of "./name" lines beside data.yaml (relocatable by construction).
      std::string list;
      for (const auto& im : sp.images) list += "./" + arcname(im, ds.root) + "\n";
      std::string name = sp.name + ".txt";
      generated[name] = list;
      split_entries[sp.name].push_back(name);
    }
  }
  for (const auto& [name, src] : files)
    if (has_control_char(name))
      throw DataError("cannot pack " + ds.yaml.string() + ": the file name '" + printable(src.string()) +
                      "' contains a control character (newline, tab, escape...), which the archive's manifest cannot "
                      "hold; rename the file");
  generated["data.yaml"] = yaml_text(ds, split_entries);
  for (const auto& [name, _] : generated)
    if (files.count(name))
      throw DataError("cannot pack " + ds.yaml.string() + ": the dataset has an image or label named '" + name +
                      "' at its root, which the archive needs for itself; move it into a sub-folder");

  std::map<std::string, std::string> sha;
  for (const auto& [name, src] : files) sha[name] = util::sha256_file(src);
  for (const auto& [name, text] : generated) sha[name] = util::sha256_hex(text);
  std::string manifest;
  for (const auto& [name, h] : sha) manifest += h + "  " + name + "\n";
  generated[kManifest] = manifest;

  std::map<std::string, std::pair<const fs::path*, const std::string*>> all;
  for (const auto& [name, src] : files) all[name] = {&src, nullptr};
  for (const auto& [name, text] : generated) all[name] = {nullptr, &text};

  Utf8Names utf8;
  if (!utf8.ok())
    for (const auto& [name, src] : files)
      if (!ascii(name))
        throw DataError("cannot pack " + ds.yaml.string() + ": '" + name + "' is not an ASCII name and this system has "
                        "no UTF-8 locale (C.UTF-8) to store it with; rename the file or install the locale");
  util::AtomicFile af(out);
  {
    ArchiveWriter w;
    w.check(archive_write_set_format_pax_restricted(w.a), out);
    w.check(archive_write_set_format_option(w.a, "pax", "hdrcharset", "UTF-8"), out);
    w.check(archive_write_add_filter_gzip(w.a), out);
    // No timestamp or file name in the gzip header: the bytes depend on the content only.
    archive_write_set_filter_option(w.a, "gzip", "timestamp", nullptr);
    w.check(archive_write_open_filename(w.a, af.temp_path().c_str()), out);
    for (const auto& [name, src] : all) add_entry(w, out, name, src.first ? util::read_file(*src.first) : *src.second);
    w.check(archive_write_close(w.a), out);
  }
  af.commit();

  PackResult r;
  r.archive = out;
  r.files = all.size();
  r.bytes = fs::file_size(out);
  r.sha256 = util::sha256_file(out);
  return r;
}

void verify_manifest(const fs::path& dir, const std::string& what) {
  try {
    fs::path mf = dir / kManifest;
    if (!fs::is_regular_file(mf))
      throw DataError(what + " has no " + kManifest + ": it was not made by `yolocpp pack`; pack the dataset with it");
    std::istringstream in(util::read_file(mf));
    std::set<std::string> listed{kManifest, kComplete};
    std::string line;
    int ln = 0;
    while (std::getline(in, line)) {
      ++ln;
      if (line.empty()) continue;
      if (line.size() < 67 || line.compare(64, 2, "  ") != 0)
        throw DataError(what + ": " + kManifest + " line " + std::to_string(ln) + " is malformed; re-create the archive");
      std::string h = line.substr(0, 64), name = line.substr(66);
      listed.insert(name);
      fs::path p = dir / name;
      std::error_code ec;  // a name too long for the file system is a bad manifest, not an exception to escape
      if (!safe_name(name) || !fs::is_regular_file(p, ec))
        throw DataError(what + ": '" + name + "' is listed in " + kManifest + " but missing from the archive; "
                        "re-create it with `yolocpp pack`");
      if (util::sha256_file(p) != h)
        throw DataError(what + ": '" + name + "' does not match its sha256 in " + kManifest +
                        " (modified or damaged); re-create the archive with `yolocpp pack`");
    }
    // No exemption (not even label *.cache files): this runs on a fresh unpack, before any cache is written.
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::string name = e.path().lexically_relative(dir).generic_string();
      if (listed.count(name)) continue;
      throw DataError(what + ": '" + name + "' is not listed in " + kManifest +
                      " (added after packing); re-create the archive with `yolocpp pack`");
    }
  } catch (const fs::filesystem_error& e) {  // names the file system cannot hold
    throw DataError(what + ": " + kManifest + " names a file the file system cannot hold (" + e.code().message() +
                    "); re-create the archive with `yolocpp pack`");
  }
}

namespace {

void unpack_entries(const fs::path& archive_path, const fs::path& dest) {
  const std::string what = archive_path.string();
  Utf8Names utf8;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  // `yolocpp pack` writes gzipped tar; the other formats and filters libarchive knows (ISO 9660, RAR, 7-Zip,
  // xz, bzip2, ...) are attack surface a dataset archive does not need.
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw DataError("cannot open dataset archive " + what + ": " + archive_error(a.get()));
  std::error_code sec;
  const uint64_t archive_bytes = fs::file_size(archive_path, sec);
  const uint64_t limit = std::max(kMinUnpackAllowance, archive_bytes * kMaxUnpackRatio);
  uint64_t total = 0;
  fs::create_directories(dest);
  archive_entry* e = nullptr;
  int rc;
  auto too_big = [&](uint64_t n) {
    throw DataError(fmt::format("{}: unpacks to more than {} bytes ({}x its {} bytes); refusing what looks like an "
                                "archive bomb (a real dataset archive unpacks to about its own size)",
                                what, n, kMaxUnpackRatio, archive_bytes));
  };
  while ((rc = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    const char* u8 = archive_entry_pathname_utf8(e);
    const char* raw = u8 ? u8 : archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    if (name.rfind("./", 0) == 0) name = name.substr(2);
    if (name.empty() || name == ".") continue;
    auto type = archive_entry_filetype(e);
    if (type == AE_IFDIR) continue;
    if (!safe_name(name) || type != AE_IFREG || has_control_char(name))
      throw DataError(what + ": refusing entry '" + printable(name) + "' (absolute path, '..', a control character, "
                      "or not a regular file); this is not an archive made by `yolocpp pack`");
    // Declared sizes are checked before writing, written bytes while writing (a header could lie).
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
      const uint64_t declared = static_cast<uint64_t>(archive_entry_size(e));
      if (declared > limit || total > limit - declared) too_big(total + declared);
    }
    fs::path p = dest / name;
    fs::create_directories(p.parent_path());
    std::ofstream o(p, std::ios::binary | std::ios::trunc);
    if (!o) throw IoError("cannot write " + p.string() + " while unpacking " + what);
    const void* buf;
    size_t size;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(a.get(), &buf, &size, &off)) == ARCHIVE_OK) {
      total += size;
      if (total > limit) too_big(total);
      o.write(static_cast<const char*>(buf), static_cast<std::streamsize>(size));
    }
    if (r != ARCHIVE_EOF) throw DataError(what + ": damaged archive at '" + name + "': " + archive_error(a.get()));
    o.close();
    if (!o) throw IoError("cannot write " + p.string() + " while unpacking " + what + " (disk full?)");
  }
  if (rc != ARCHIVE_EOF) throw DataError(what + ": damaged archive: " + archive_error(a.get()));
}

}  // namespace

void unpack(const fs::path& archive_path, const fs::path& dest) {
  try {
    unpack_entries(archive_path, dest);
    verify_manifest(dest, archive_path.string());
  } catch (const fs::filesystem_error& e) {  // a name too long for the file system, a full disk, ...
    throw DataError(archive_path.string() + ": cannot unpack into " + dest.string() + " (" + e.code().message() +
                    "); is this an archive made by `yolocpp pack`?");
  }
}

namespace {

// An exclusive flock(2) on "<dest>.lock", released when the process exits however it exits. DDP ranks
// (and separate runs) sharing a cache unpack one at a time: the first does the work, the others then find
// the completed folder.
class UnpackLock {
 public:
  explicit UnpackLock(const fs::path& dest) : path_(dest.string() + ".lock") {
    fs::create_directories(dest.parent_path());
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError("cannot create lock file " + path_ + ": " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) throw IoError("cannot lock " + path_ + ": " + std::strerror(errno));
  }
  ~UnpackLock() { ::close(fd_); }
  UnpackLock(const UnpackLock&) = delete;
  UnpackLock& operator=(const UnpackLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

fs::path unpack_cached(const fs::path& archive_path) {
  std::string h = util::sha256_file(archive_path);
  fs::path dest = util::cache_dir() / "datasets" / h.substr(0, 16);
  if (fs::is_regular_file(dest / kComplete)) return dest;
  UnpackLock lock(dest);
  if (fs::is_regular_file(dest / kComplete)) return dest;  // another process finished while we waited
  std::error_code ec;
  // Holding the lock, no one else is unpacking: leftovers of crashed unpacks (ours or others') go now.
  const std::string stem = dest.filename().string() + ".tmp.";
  for (const auto& d : fs::directory_iterator(dest.parent_path(), ec))
    if (d.path().filename().string().rfind(stem, 0) == 0) fs::remove_all(d.path(), ec);
  fs::path tmp = dest.string() + ".tmp." + std::to_string(::getpid());
  try {
    unpack(archive_path, tmp);
    util::atomic_write(tmp / kComplete, archive_path.string() + "\n");
    // Only an incomplete folder (no marker: an unpack interrupted before the rename) is ever removed.
    if (fs::exists(dest) && !fs::is_regular_file(dest / kComplete)) fs::remove_all(dest);
    fs::rename(tmp, dest);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  log::info("unpacked {} into {}", archive_path.string(), dest.string());
  return dest;
}

}  // namespace yolocpp::data
