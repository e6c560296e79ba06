// Run directories (ultralytics 8.3.58 utils/files.py increment_path): everything about one run lives in project/name; a
// second run with the same name gets name2, name3, ... unless exist_ok.
#pragma once
#include <filesystem>
#include <string>

#include "yolocpp/config/settings.hpp"

namespace yolocpp::engine {

namespace fs = std::filesystem;

struct RunDir {
  fs::path path;      // project/name (created)
  std::string name;   // the final name, e.g. "val3"
  bool reused = false;  // exist_ok and the folder already existed
};

// project empty -> "runs/detect" (relative to the working directory, as Ultralytics 8.3); name empty ->
// default_name (the mode: "train", "val", "predict"). Claims the folder with an atomic mkdir, so two runs
// started at once never share one. Throws IoError when it cannot be created.
RunDir make_run_dir(const fs::path& project, const std::string& name, bool exist_ok, const std::string& default_name);

// args.yaml in Ultralytics' form (only its keys, plus save_dir, so Ultralytics' config check accepts it) and
// yolocpp_args.yaml with the yolocpp-only settings beside it; either loads back as cfg=. Atomic writes.
void write_run_args(const fs::path& save_dir, const config::Settings& args);

}  // namespace yolocpp::engine
