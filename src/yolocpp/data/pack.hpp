// Dataset archives: one relocatable, deterministic .tar.gz per dataset (`yolocpp pack`), with a
// MANIFEST.sha256 that unpack verifies. The same dataset always gives the same archive bytes, so its
// sha256 identifies it (the cloud job skips re-uploads with it).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "yolocpp/data/dataset.hpp"

namespace yolocpp::data {

struct PackResult {
  fs::path archive;
  size_t files = 0;      // entries, manifest included
  uint64_t bytes = 0;    // archive size
  std::string sha256;    // of the archive
};

// Writes `out` atomically: data.yaml (path: ., splits relative), every image of every split, its label
// file when there is one, and MANIFEST.sha256. Entries are sorted, with fixed owner, mode and mtime.
PackResult pack_dataset(const DatasetInfo& ds, const fs::path& out);

// Extracts `archive` into `dest` (created) and verifies the manifest. Throws DataError naming the archive
// and the missing, extra or modified file.
void unpack(const fs::path& archive, const fs::path& dest);

// Checks every file listed in dir/MANIFEST.sha256, and that no other file is there (label caches aside).
// `what` names the archive in error messages.
void verify_manifest(const fs::path& dir, const std::string& what);

// Unpacks once into util::cache_dir()/datasets/<first 16 hex of the archive's sha256>/ and returns it.
fs::path unpack_cached(const fs::path& archive);

}  // namespace yolocpp::data
