// Resolving `model=yolo11n.pt`: a file on disk wins; a known Ultralytics asset name is looked up in the
// cache (util::cache_dir()/weights) and downloaded there once from the Ultralytics release assets.
#pragma once
#include <string>

namespace yolocpp::io {

// True for the released asset names yolocpp knows how to fetch (yolo11{n,s,m,l,x}.pt, yolov8{n,s,m,l,x}.pt).
bool is_known_asset(const std::string& name);

// Returns a path to an existing weights file for `name`:
//   1. `name` exists on disk -> `name`;
//   2. a known asset name already in util::cache_dir()/weights -> that file;
//   3. a known asset name -> downloaded from $YOLOCPP_ASSETS_URL (default
//      https://github.com/ultralytics/assets/releases/download/v8.3.0) + "/" + name into the cache.
// Otherwise, or when the download fails (offline, 404, not a checkpoint), throws ModelError saying where
// to put the file. A progress bar is drawn on a terminal.
std::string resolve_weights(const std::string& name);

// Downloads `url` to `dest` atomically and checks it is a ZIP checkpoint (magic, size). Throws ModelError.
void download_weights(const std::string& url, const std::string& dest);

}  // namespace yolocpp::io
