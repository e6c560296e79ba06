// Minimal ZIP archive reader/writer for torch.save files and our own checkpoints.
// Reading: entries are located through the central directory and each local header (offset + 30 + name
// length + extra length), never at assumed aligned offsets: re-stored archives have no alignment padding.
// Stored and deflated entries are supported; every read checks the CRC-32 so a tampered or truncated file
// fails loudly instead of producing wrong weights. ZIP64 end records are understood (archives > 4 GiB).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace yolocpp::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
};

class ZipReader {
 public:
  // Reads the whole file into memory (checkpoints are tens of MB). Throws IoError naming the file when it
  // is not a ZIP archive or its central directory is damaged.
  explicit ZipReader(const std::filesystem::path& path);
  // Parses an archive already in memory; `label` names it in error messages.
  ZipReader(std::string bytes, std::string label);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;  // nullptr when absent
  // The first entry whose name ends with `suffix` (e.g. "/data.pkl"), nullptr when none.
  const ZipEntry* find_suffix(std::string_view suffix) const;
  // Uncompressed, CRC-checked bytes of an entry; throws IoError when absent, truncated or corrupt.
  std::string read(std::string_view name) const;
  std::string read(const ZipEntry& e) const;
  const std::string& label() const { return label_; }

  static bool looks_like_zip(std::string_view head);  // "PK\3\4" magic

 private:
  void parse();
  std::string data_;
  std::string label_;
  std::vector<ZipEntry> entries_;
  std::map<std::string, size_t, std::less<>> index_;
};

// Writes a ZIP archive into memory (the caller stores it atomically). Entries are stored, optionally
// deflated; stored entry data is aligned to 64 bytes like torch.save does so it could be mapped in place.
class ZipWriter {
 public:
  void add(const std::string& name, std::string_view data, bool deflate = false);
  std::string finish();  // central directory + end record; the writer is empty afterwards

 private:
  std::string out_;
  std::vector<ZipEntry> entries_;
};

uint32_t crc32_of(std::string_view data);

}  // namespace yolocpp::io
