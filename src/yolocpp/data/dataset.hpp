// Dataset description: the dataset yaml (or a folder holding one, or a pack archive) resolved to absolute
// split sources and the sorted image list of each split. Labels are read separately (scan.hpp).
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace yolocpp::data {

namespace fs = std::filesystem;

struct Split {
  std::string name;               // train / val / test / minival
  std::vector<std::string> given; // the entries as written in the yaml
  std::vector<fs::path> sources;  // resolved absolute folders or .txt image lists
  std::vector<fs::path> images;   // every image of the split, sorted by path string
};

struct DatasetInfo {
  fs::path yaml;                   // absolute path of the yaml that was read
  fs::path root;                   // resolved dataset root (`path:`), absolute
  std::vector<std::string> names;  // index = class id
  int nc = 0;
  int channels = 3;
  std::vector<Split> splits;       // in the order train, val, test, minival (absent ones omitted)
  std::string source;              // what data= named (yaml, folder or archive), for messages

  bool has_split(const std::string& name) const;
  const Split& split(const std::string& name) const;  // throws DataError naming the yaml when absent
};

// `data=` may be a yaml file, a folder holding one (data.yaml, dataset.yaml or its only *.yaml) or a
// .tar.gz made by `yolocpp pack` (unpacked into util::cache_dir()/datasets/<sha256 prefix>/ and verified).
// Throws DataError for anything fatal (missing files, bad keys, nc mismatch, a split without images).
DatasetInfo load_dataset(const std::string& data_arg);

// Parses one yaml file (no archive / folder lookup).
DatasetInfo load_dataset_yaml(const fs::path& yaml);

// Image formats accepted, as Ultralytics 8.3 (lower-case, no dot).
const std::vector<std::string>& image_formats();
bool is_image_file(const fs::path& p);

// Expands split sources (folders recursively, .txt lists) into the sorted list of image files.
std::vector<fs::path> list_images(const std::vector<fs::path>& sources);

// Last "/images/" -> "/labels/", extension -> ".txt"; without an images/ component, the .txt beside the image.
fs::path label_path_for(const fs::path& image);

}  // namespace yolocpp::data
