#include "yolocpp/io/zip.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;

// Deflate cannot expand data by more than ~1032:1; a larger declared size is a lie told to make us allocate.
constexpr uint64_t kMaxInflateRatio = 1100;

// True when [off, off + len) lies inside a buffer of n bytes; never overflows.
bool fits(uint64_t off, uint64_t len, uint64_t n) { return off <= n && len <= n - off; }

// Callers check fits() first: every offset here comes from the file.
uint64_t rd(const std::string& d, size_t off, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(d[off + i]);
  return v;
}
void wr(std::string& d, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) d.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

uint32_t crc32_of(std::string_view data) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in chunks.
  size_t off = 0;
  while (off < data.size()) {
    uInt n = static_cast<uInt>(std::min<size_t>(data.size() - off, 1u << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(data.data() + off), n);
    off += n;
  }
  return static_cast<uint32_t>(c);
}

bool ZipReader::looks_like_zip(std::string_view head) {
  return head.size() >= 4 && std::memcmp(head.data(), "PK\x03\x04", 4) == 0;
}

ZipReader::ZipReader(const std::filesystem::path& path) : label_(path.string()) {
  data_ = util::read_file(path);
  parse();
}

ZipReader::ZipReader(std::string bytes, std::string label) : data_(std::move(bytes)), label_(std::move(label)) {
  parse();
}

void ZipReader::parse() {
  const std::string bad = label_ + ": not a valid ZIP archive (";
  const std::string fix = "); the file is truncated or not a torch/yolocpp checkpoint: re-download or re-save it";
  if (data_.size() < 22) throw IoError(bad + "file too short" + fix);
  // The end-of-central-directory record sits in the last 22 + up to 65535 (comment) bytes.
  size_t end = std::string::npos;
  size_t lo = data_.size() > 22 + 65535 ? data_.size() - 22 - 65535 : 0;
  for (size_t p = data_.size() - 22 + 1; p-- > lo;) {
    if (rd(data_, p, 4) == kEndSig) { end = p; break; }
  }
  if (end == std::string::npos) throw IoError(bad + "no end-of-central-directory record" + fix);
  uint64_t count = rd(data_, end + 10, 2);
  uint64_t cd_size = rd(data_, end + 12, 4);
  uint64_t cd_off = rd(data_, end + 16, 4);
  if ((count == 0xffff || cd_off == 0xffffffffu || cd_size == 0xffffffffu) && end >= 20 &&
      rd(data_, end - 20, 4) == kZip64LocatorSig) {
    uint64_t z64 = rd(data_, end - 20 + 8, 8);
    if (!fits(z64, 56, end - 20) || rd(data_, z64, 4) != kZip64EndSig) throw IoError(bad + "bad ZIP64 record" + fix);
    count = rd(data_, z64 + 32, 8);
    cd_size = rd(data_, z64 + 40, 8);
    cd_off = rd(data_, z64 + 48, 8);
  }
  if (!fits(cd_off, cd_size, data_.size())) throw IoError(bad + "central directory past end of file" + fix);
  // Each central entry takes at least 46 bytes: a count beyond that is a lie (and would size the reserve).
  if (count > cd_size / 46) throw IoError(bad + "central directory holds fewer entries than it declares" + fix);
  const size_t cd_end = cd_off + cd_size;
  size_t p = cd_off;
  entries_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    if (!fits(p, 46, cd_end) || rd(data_, p, 4) != kCentralSig)
      throw IoError(bad + "central directory entry " + std::to_string(i) + " damaged" + fix);
    ZipEntry e;
    e.method = static_cast<uint16_t>(rd(data_, p + 10, 2));
    e.crc32 = static_cast<uint32_t>(rd(data_, p + 16, 4));
    e.compressed_size = rd(data_, p + 20, 4);
    e.size = rd(data_, p + 24, 4);
    size_t name_len = rd(data_, p + 28, 2), extra_len = rd(data_, p + 30, 2), comment_len = rd(data_, p + 32, 2);
    e.local_header_offset = rd(data_, p + 42, 4);
    if (!fits(p + 46, name_len + extra_len + comment_len, cd_end))
      throw IoError(bad + "central directory entry " + std::to_string(i) + " truncated" + fix);
    e.name = data_.substr(p + 46, name_len);
    // ZIP64 extended information: only the fields whose 32-bit value is saturated are present, in order.
    size_t x = p + 46 + name_len, xend = x + extra_len;
    while (fits(x, 4, xend)) {
      uint64_t id = rd(data_, x, 2), len = rd(data_, x + 2, 2);
      if (!fits(x + 4, len, xend)) throw IoError(bad + "entry '" + e.name + "' has a truncated extra field" + fix);
      if (id == 1) {
        size_t q = x + 4, qend = x + 4 + len;
        if (e.size == 0xffffffffu && fits(q, 8, qend)) { e.size = rd(data_, q, 8); q += 8; }
        if (e.compressed_size == 0xffffffffu && fits(q, 8, qend)) { e.compressed_size = rd(data_, q, 8); q += 8; }
        if (e.local_header_offset == 0xffffffffu && fits(q, 8, qend)) e.local_header_offset = rd(data_, q, 8);
      }
      x += 4 + len;
    }
    // Sizes are checked against the file here, before anyone allocates for the entry.
    if (!fits(e.local_header_offset, e.compressed_size, data_.size()))
      throw IoError(bad + "entry '" + e.name + "' lies past the end of the file" + fix);
    if (e.method == 0 ? e.size != e.compressed_size : e.size / kMaxInflateRatio > e.compressed_size)
      throw IoError(bad + "entry '" + e.name + "' declares " + std::to_string(e.size) + " bytes from " +
                    std::to_string(e.compressed_size) + " stored ones" + fix);
    p += 46 + name_len + extra_len + comment_len;
    index_.emplace(e.name, entries_.size());
    entries_.push_back(std::move(e));
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const ZipEntry* ZipReader::find_suffix(std::string_view suffix) const {
  for (const auto& e : entries_)
    if (e.name.size() >= suffix.size() && e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return &e;
  return nullptr;
}

std::string ZipReader::read(std::string_view name) const {
  const ZipEntry* e = find(name);
  if (!e) throw IoError(label_ + ": archive has no entry '" + std::string(name) + "'; the file is incomplete or not a checkpoint");
  return read(*e);
}

std::string ZipReader::read(const ZipEntry& e) const {
  const std::string where = label_ + ": entry '" + e.name + "' ";
  const std::string fix = "; the file is corrupt or truncated: re-download or re-save it";
  const uint64_t h = e.local_header_offset;
  if (!fits(h, 30, data_.size()) || rd(data_, h, 4) != kLocalSig) throw IoError(where + "has a damaged local header" + fix);
  const uint64_t start = h + 30 + rd(data_, h + 26, 2) + rd(data_, h + 28, 2);
  if (!fits(start, e.compressed_size, data_.size())) throw IoError(where + "runs past the end of the file" + fix);
  if (e.method == 8 && e.size / kMaxInflateRatio > e.compressed_size)
    throw IoError(where + "declares more inflated bytes than deflate can produce" + fix);
  std::string out;
  if (e.method == 0) {
    if (e.compressed_size != e.size) throw IoError(where + "has inconsistent stored sizes" + fix);
    out = data_.substr(start, e.size);
  } else if (e.method == 8) {
    out.resize(e.size);
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw IoError(where + "could not start zlib inflate");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data_.data() + start));
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    // zlib counts in uInt: feed and drain in chunks so entries over 4 GiB inflate too.
    uint64_t in_left = e.compressed_size, out_left = e.size;
    int rc = Z_OK;
    while (rc == Z_OK) {
      uInt in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
      uInt out_chunk = static_cast<uInt>(std::min<uint64_t>(out_left, 1u << 30));
      zs.avail_in = in_chunk;
      zs.avail_out = out_chunk;
      rc = inflate(&zs, Z_NO_FLUSH);
      in_left -= in_chunk - zs.avail_in;
      out_left -= out_chunk - zs.avail_out;
      if (rc == Z_OK && zs.avail_in == in_chunk && zs.avail_out == out_chunk) break;  // no progress possible
      if (rc == Z_BUF_ERROR) break;
    }
    uint64_t produced = e.size - out_left;
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || produced != e.size) throw IoError(where + "does not inflate to its recorded size" + fix);
  } else {
    throw IoError(where + "uses ZIP compression method " + std::to_string(e.method) +
                  " (only stored and deflated are supported); re-save the file with torch.save or yolocpp");
  }
  if (crc32_of(out) != e.crc32) throw IoError(where + "fails its CRC-32 check" + fix);
  return out;
}

void ZipWriter::add(const std::string& name, std::string_view data, bool deflate) {
  ZipEntry e;
  e.name = name;
  e.crc32 = crc32_of(data);
  e.size = data.size();
  std::string payload;
  if (deflate) {
    e.method = 8;
    uLong bound = compressBound(static_cast<uLong>(data.size()));
    payload.resize(bound + 64);
    z_stream zs{};
    deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(payload.data());
    zs.avail_out = static_cast<uInt>(payload.size());
    int rc;
    do rc = ::deflate(&zs, Z_FINISH);
    while (rc == Z_OK);
    payload.resize(zs.total_out);
    deflateEnd(&zs);
  }
  e.compressed_size = deflate ? payload.size() : data.size();
  if (e.size >= 0xffffffffu || out_.size() >= 0xffffffffu)
    throw IoError("zip writer: entry '" + name + "' needs ZIP64, which yolocpp does not write; the checkpoint is over 4 GiB");
  e.local_header_offset = out_.size();
  // Pad the extra field so stored data starts on a 64-byte boundary (0xCAFE-style private padding field).
  size_t base = out_.size() + 30 + name.size();
  size_t pad = 0;
  if (!deflate) {
    pad = (64 - (base + 4) % 64) % 64;
    pad += 4;
  }
  wr(out_, kLocalSig, 4);
  wr(out_, 20, 2);  // version needed
  wr(out_, 0, 2);   // flags
  wr(out_, e.method, 2);
  wr(out_, 0, 4);  // time/date
  wr(out_, e.crc32, 4);
  wr(out_, e.compressed_size, 4);
  wr(out_, e.size, 4);
  wr(out_, name.size(), 2);
  wr(out_, pad, 2);
  out_ += name;
  if (pad) {
    wr(out_, 0x4c59, 2);  // private extra-field id ("YL")
    wr(out_, pad - 4, 2);
    out_.append(pad - 4, '\0');
  }
  if (deflate) out_ += payload;
  else out_.append(data.data(), data.size());
  entries_.push_back(std::move(e));
}

std::string ZipWriter::finish() {
  size_t cd_off = out_.size();
  for (const auto& e : entries_) {
    wr(out_, kCentralSig, 4);
    wr(out_, 20, 2);
    wr(out_, 20, 2);
    wr(out_, 0, 2);
    wr(out_, e.method, 2);
    wr(out_, 0, 4);
    wr(out_, e.crc32, 4);
    wr(out_, e.compressed_size, 4);
    wr(out_, e.size, 4);
    wr(out_, e.name.size(), 2);
    wr(out_, 0, 2);  // extra
    wr(out_, 0, 2);  // comment
    wr(out_, 0, 2);  // disk
    wr(out_, 0, 2);  // internal attrs
    wr(out_, 0, 4);  // external attrs
    wr(out_, e.local_header_offset, 4);
    out_ += e.name;
  }
  size_t cd_size = out_.size() - cd_off;
  if (entries_.size() >= 0xffff || cd_off >= 0xffffffffu)
    throw IoError("zip writer: too many entries or too large for a non-ZIP64 archive");
  wr(out_, kEndSig, 4);
  wr(out_, 0, 2);
  wr(out_, 0, 2);
  wr(out_, entries_.size(), 2);
  wr(out_, entries_.size(), 2);
  wr(out_, cd_size, 4);
  wr(out_, cd_off, 4);
  wr(out_, 0, 2);
  std::string r = std::move(out_);
  out_.clear();
  entries_.clear();
  return r;
}

}  // namespace yolocpp::io
