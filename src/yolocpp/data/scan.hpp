// Label scan: every image of a split verified once (ultralytics 8.3.58 data/utils.py verify_image_label) and its labels
// parsed; the result is cached in "<labels dir>.cache" keyed by a hash of file paths, sizes and mtimes.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "yolocpp/data/dataset.hpp"

namespace yolocpp::data {

struct Box {
  int cls = 0;
  float x = 0, y = 0, w = 0, h = 0;  // normalised centre x/y, width, height
};

enum class LabelState { Found, Missing, Empty, Corrupt };

// The verdict on one image/label pair.
struct ImageLabels {
  fs::path image, label;
  LabelState state = LabelState::Missing;
  int width = 0, height = 0;     // EXIF-corrected image size
  std::vector<Box> boxes;
  int duplicates_removed = 0;
  bool jpeg_no_eoi = false;
  std::string message;           // the reason (Corrupt) or warning (duplicates, truncated JPEG); "" otherwise
};

struct ScanCounts {
  size_t images = 0;      // images listed for the split
  size_t found = 0;       // kept images with a non-empty label file
  size_t missing = 0;     // kept images without a label file (background)
  size_t empty = 0;       // kept images with an empty label file (background)
  size_t corrupt = 0;     // images dropped
  size_t duplicates = 0;  // duplicate label rows removed
  size_t jpeg_warnings = 0;
};

struct ScanResult {
  std::vector<ImageLabels> items;    // kept images, in image-list order
  std::vector<ImageLabels> corrupt;  // dropped images with their reason
  std::vector<std::string> warnings; // one line per file problem
  ScanCounts counts;
  fs::path cache_file;
  bool from_cache = false;           // read from a valid cache file
  bool cache_written = false;

  size_t instances() const;
  size_t backgrounds() const { return counts.missing + counts.empty; }
  std::vector<size_t> per_class(int nc) const;
};

// Verifies one image and parses its label file (as verify_image_label). Never throws for bad files: the verdict says.
ImageLabels verify_image_labels(const fs::path& image, const fs::path& label, int nc);

// Where the cache of a split goes: beside the single .txt list, else "<label dir of the first image>.cache".
fs::path cache_path_for(const std::vector<fs::path>& sources, const std::vector<fs::path>& images);

// Scans images (labels via label_path_for). use_cache=false neither reads nor writes the cache.
ScanResult scan_images(const std::vector<fs::path>& images, int nc, const fs::path& cache_file, bool use_cache = true);
ScanResult scan_split(const DatasetInfo& ds, const std::string& split, bool use_cache = true);

}  // namespace yolocpp::data
