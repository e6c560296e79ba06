#include "yolocpp/data/scan.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include "yolocpp/data/image_header.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"
#include "yolocpp/util/sha256.hpp"

namespace yolocpp::data {

namespace {

constexpr uint32_t kCacheVersion = 2;  // 2: verdicts include a full decode of each image
// PIL refuses images over 2 x its MAX_IMAGE_PIXELS (decompression bomb); so do we, before decoding.
constexpr int64_t kMaxPixels = 178956970;
const char kCacheMagic[] = "YOLOCPP-LABEL-CACHE\n";

// Ultralytics late 8.3 tolerance: coordinates up to 1.01 and values down to -0.01 pass (not clipped).
constexpr float kMaxCoord = 1.01f;
constexpr float kMinValue = -0.01f;

std::string fmt_num(float v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

bool parse_float(const std::string& tok, float& out) {
  // strtof reads hex floats (0x1p-1); NumPy, which Ultralytics parses labels with, does not.
  if (tok.find_first_of("xX") != std::string::npos) return false;
  const char* b = tok.c_str();
  char* e = nullptr;
  errno = 0;
  out = std::strtof(b, &e);
  return e != b && *e == '\0' && std::isfinite(out);
}

// Parses and checks a non-empty label file into `r`. Returns false (with r.message) when corrupt.
bool parse_labels(const std::string& text, int nc, ImageLabels& r) {
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line_no;
  std::istringstream in(text);
  std::string line;
  int ln = 0;
  while (std::getline(in, line)) {
    ++ln;
    std::istringstream ls(line);
    std::vector<std::string> toks;
    for (std::string t; ls >> t;) toks.push_back(t);
    if (toks.empty()) continue;
    rows.push_back(std::move(toks));
    line_no.push_back(ln);
  }
  const std::string where = r.label.string();
  auto fail = [&](const std::string& m) {
    r.message = m;
    return false;
  };
  if (rows.empty()) return true;
  bool segments = std::any_of(rows.begin(), rows.end(), [](const auto& t) { return t.size() > 6; });

  std::vector<std::array<float, 5>> vals;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<float> v;
    for (const auto& t : rows[i]) {
      float f;
      if (!parse_float(t, f))
        return fail(where + ":" + std::to_string(line_no[i]) + ": non-numeric value '" + t + "'");
      v.push_back(f);
    }
    if (segments) {
      // Segmentation polygon "class x1 y1 x2 y2 ...": its axis-aligned bounding box, as Ultralytics.
      if (v.size() < 3 || (v.size() - 1) % 2 != 0)
        return fail(where + ":" + std::to_string(line_no[i]) + ": polygon with an odd number of coordinates");
      float x0 = v[1], x1 = v[1], y0 = v[2], y1 = v[2];
      for (size_t k = 1; k + 1 < v.size(); k += 2) {
        x0 = std::min(x0, v[k]), x1 = std::max(x1, v[k]);
        y0 = std::min(y0, v[k + 1]), y1 = std::max(y1, v[k + 1]);
      }
      vals.push_back({v[0], (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0});
    } else {
      if (v.size() != 5)
        return fail(where + ":" + std::to_string(line_no[i]) + ": labels require 5 columns (class cx cy w h), " +
                    std::to_string(v.size()) + " columns detected");
      vals.push_back({v[0], v[1], v[2], v[3], v[4]});
    }
  }
  for (size_t i = 0; i < vals.size(); ++i) {
    const auto& v = vals[i];
    std::string at = where + ":" + std::to_string(line_no[i]) + ": ";
    for (float f : v)
      if (f < kMinValue) return fail(at + "negative label value " + fmt_num(f));
    for (int k = 1; k < 5; ++k)
      if (v[k] > kMaxCoord)
        return fail(at + "non-normalized or out of bounds coordinate " + fmt_num(v[k]) +
                    " (coordinates must be in 0-1, relative to the image size)");
    if (v[0] != std::floor(v[0])) return fail(at + "class id " + fmt_num(v[0]) + " is not an integer");
    if (v[0] >= static_cast<float>(nc))
      return fail(at + "label class " + fmt_num(v[0]) + " exceeds dataset class count " + std::to_string(nc) +
                  ". Possible class labels are 0-" + std::to_string(nc - 1));
  }
  // Identical rows: keep the unique ones in sorted order (Ultralytics uses np.unique, which sorts).
  auto sorted = vals;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  if (sorted.size() < vals.size()) {
    r.duplicates_removed = static_cast<int>(vals.size() - sorted.size());
    r.message = where + ": " + std::to_string(r.duplicates_removed) + " duplicate labels removed";
    vals = sorted;
  }
  for (const auto& v : vals) r.boxes.push_back(Box{static_cast<int>(v[0]), v[1], v[2], v[3], v[4]});
  return true;
}

// ---- cache file: magic, version, hash, entries, then sha256 of everything before it ----

void put_u32(std::string& b, uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
void put_str(std::string& b, const std::string& s) {
  put_u32(b, static_cast<uint32_t>(s.size()));
  b += s;
}

struct Reader {
  const std::string& b;
  size_t o = 0;
  bool ok = true;
  uint32_t u32() {
    uint32_t v = 0;
    if (o + 4 > b.size()) return ok = false, 0;
    std::memcpy(&v, b.data() + o, 4);
    o += 4;
    return v;
  }
  float f32() {
    float v = 0;
    if (o + 4 > b.size()) return ok = false, 0.f;
    std::memcpy(&v, b.data() + o, 4);
    o += 4;
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    if (!ok || o + n > b.size()) return ok = false, std::string();
    std::string s = b.substr(o, n);
    o += n;
    return s;
  }
};

std::string encode_cache(const std::string& hash, const std::vector<ImageLabels>& all) {
  std::string b = kCacheMagic;
  put_u32(b, kCacheVersion);
  put_str(b, hash);
  put_u32(b, static_cast<uint32_t>(all.size()));
  for (const auto& r : all) {
    put_str(b, r.image.string());
    put_str(b, r.label.string());
    put_u32(b, static_cast<uint32_t>(r.state));
    put_u32(b, static_cast<uint32_t>(r.width));
    put_u32(b, static_cast<uint32_t>(r.height));
    put_u32(b, static_cast<uint32_t>(r.duplicates_removed));
    put_u32(b, r.jpeg_no_eoi ? 1 : 0);
    put_str(b, r.message);
    put_u32(b, static_cast<uint32_t>(r.boxes.size()));
    for (const auto& x : r.boxes) {
      put_u32(b, static_cast<uint32_t>(x.cls));
      for (float f : {x.x, x.y, x.w, x.h}) b.append(reinterpret_cast<const char*>(&f), 4);
    }
  }
  b += util::sha256_hex(b);
  return b;
}

// Empty result when the file is absent, of another version, for other files, or damaged.
bool decode_cache(const std::string& b, const std::string& hash, std::vector<ImageLabels>& out) {
  const size_t ml = sizeof(kCacheMagic) - 1;
  if (b.size() < ml + 64 || b.compare(0, ml, kCacheMagic) != 0) return false;
  if (util::sha256_hex(std::string_view(b).substr(0, b.size() - 64)) != b.substr(b.size() - 64)) return false;
  Reader r{b, ml};
  if (r.u32() != kCacheVersion || r.str() != hash) return false;
  uint32_t n = r.u32();
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    ImageLabels x;
    x.image = r.str();
    x.label = r.str();
    uint32_t st = r.u32();
    if (st > 3) return false;
    x.state = static_cast<LabelState>(st);
    x.width = static_cast<int>(r.u32());
    x.height = static_cast<int>(r.u32());
    x.duplicates_removed = static_cast<int>(r.u32());
    x.jpeg_no_eoi = r.u32() != 0;
    x.message = r.str();
    uint32_t nb = r.u32();
    if (!r.ok || nb > (b.size() - r.o) / 20) return false;
    for (uint32_t k = 0; k < nb; ++k) {
      Box bx;
      bx.cls = static_cast<int>(r.u32());
      bx.x = r.f32(), bx.y = r.f32(), bx.w = r.f32(), bx.h = r.f32();
      x.boxes.push_back(bx);
    }
    out.push_back(std::move(x));
  }
  return r.ok && r.o == b.size() - 64;
}

// Hash over everything the verdicts depend on: format version, nc, and each image and label file's path,
// size and mtime (nanoseconds). Any change, addition or removal gives another hash.
std::string files_hash(const std::vector<fs::path>& images, int nc) {
  util::Sha256 h;
  std::string head = "v" + std::to_string(kCacheVersion) + " nc" + std::to_string(nc) + "\n";
  h.update(head.data(), head.size());
  auto add = [&](const fs::path& p) {
    struct stat st {};
    std::string line = p.string();
    if (::stat(p.c_str(), &st) == 0)
      line += " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec);
    else
      line += " -";
    line += "\n";
    h.update(line.data(), line.size());
  };
  for (const auto& im : images) {
    add(im);
    add(label_path_for(im));
  }
  return h.hex();
}

ScanResult assemble(std::vector<ImageLabels> all) {
  ScanResult res;
  res.counts.images = all.size();
  for (auto& r : all) {
    if (r.state == LabelState::Corrupt) {
      res.warnings.push_back("corrupt, ignored: " + r.message);
      ++res.counts.corrupt;
      res.corrupt.push_back(std::move(r));
      continue;
    }
    if (!r.message.empty()) res.warnings.push_back(r.message);
    res.counts.duplicates += static_cast<size_t>(r.duplicates_removed);
    res.counts.jpeg_warnings += r.jpeg_no_eoi ? 1 : 0;
    if (r.state == LabelState::Found) ++res.counts.found;
    if (r.state == LabelState::Missing) ++res.counts.missing;
    if (r.state == LabelState::Empty) ++res.counts.empty;
    res.items.push_back(std::move(r));
  }
  return res;
}

}  // namespace

size_t ScanResult::instances() const {
  size_t n = 0;
  for (const auto& r : items) n += r.boxes.size();
  return n;
}

std::vector<size_t> ScanResult::per_class(int nc) const {
  std::vector<size_t> c(static_cast<size_t>(std::max(nc, 0)), 0);
  for (const auto& r : items)
    for (const auto& b : r.boxes)
      if (b.cls >= 0 && b.cls < nc) ++c[static_cast<size_t>(b.cls)];
  return c;
}

ImageLabels verify_image_labels(const fs::path& image, const fs::path& label, int nc) {
  ImageLabels r;
  r.image = image;
  r.label = label;
  try {
    ImageHeader h = read_image_header(image);
    r.width = h.width;
    r.height = h.height;
    if (h.width < 10 || h.height < 10) {
      r.state = LabelState::Corrupt;
      r.message = image.string() + ": image size " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                  " is under 10 pixels";
      return r;
    }
    if (static_cast<int64_t>(h.width) * h.height > kMaxPixels) {
      r.state = LabelState::Corrupt;
      r.message = image.string() + ": image claims " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                  " pixels, over the " + std::to_string(kMaxPixels) + "-pixel limit (a decompression bomb or a damaged "
                  "header)";
      return r;
    }
    // The header alone passes files whose pixel data is missing (a JPEG of just its SOF marker): decode
    // once here, so `check` and the label cache catch what training would otherwise hit hours in.
    if (cv::imread(image.string(), cv::IMREAD_COLOR).empty()) {
      r.state = LabelState::Corrupt;
      r.message = image.string() + ": the header reads " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                  " but the pixel data cannot be decoded (truncated or damaged file); re-save or remove it";
      return r;
    }
    if (h.jpeg_no_eoi) {
      r.jpeg_no_eoi = true;
      r.message = image.string() + ": corrupt JPEG (no end-of-image marker FF D9); kept, but re-save it to fix";
    }
  } catch (const DataError& e) {
    r.state = LabelState::Corrupt;
    r.message = e.what();
    return r;
  }
  std::error_code ec;
  if (!fs::is_regular_file(label, ec)) {
    r.state = LabelState::Missing;
    return r;
  }
  std::string text;
  try {
    text = util::read_file(label);
  } catch (const IoError& e) {
    r.state = LabelState::Corrupt;
    r.message = e.what();
    return r;
  }
  std::string keep_msg = r.message;
  if (!parse_labels(text, nc, r)) {
    r.state = LabelState::Corrupt;
    r.boxes.clear();
    return r;
  }
  if (!keep_msg.empty()) r.message = keep_msg + (r.message == keep_msg ? "" : "; " + r.message);
  r.state = r.boxes.empty() ? LabelState::Empty : LabelState::Found;
  return r;
}

fs::path cache_path_for(const std::vector<fs::path>& sources, const std::vector<fs::path>& images) {
  if (sources.size() == 1 && fs::is_regular_file(sources[0])) {
    fs::path c = sources[0];
    return c.replace_extension(".cache");
  }
  if (images.empty()) return {};
  fs::path dir = label_path_for(images.front()).parent_path();
  return fs::path(dir.string() + ".cache");
}

ScanResult scan_images(const std::vector<fs::path>& images, int nc, const fs::path& cache_file, bool use_cache) {
  std::string hash = use_cache ? files_hash(images, nc) : std::string();
  if (use_cache && !cache_file.empty() && fs::is_regular_file(cache_file)) {
    std::vector<ImageLabels> cached;
    std::string bytes;
    try {
      bytes = util::read_file(cache_file);
    } catch (const IoError&) {
    }
    if (decode_cache(bytes, hash, cached)) {
      ScanResult res = assemble(std::move(cached));
      res.cache_file = cache_file;
      res.from_cache = true;
      return res;
    }
    log::debug("label cache {} is stale, of another version or damaged: rescanning", cache_file.string());
  }
  std::vector<ImageLabels> all;
  all.reserve(images.size());
  for (const auto& im : images) all.push_back(verify_image_labels(im, label_path_for(im), nc));

  bool written = false;
  if (use_cache && !cache_file.empty()) {
    if (util::folder_writable(cache_file.parent_path())) {
      try {
        util::atomic_write(cache_file, encode_cache(hash, all));
        written = true;
      } catch (const std::exception& e) {
        log::warn("cannot write label cache {} ({}); continuing without a cache", cache_file.string(), e.what());
      }
    } else {
      log::warn("label cache folder {} is not writeable; continuing without a cache (labels are re-verified "
                "on every run)", cache_file.parent_path().string());
    }
  }
  ScanResult res = assemble(std::move(all));
  res.cache_file = cache_file;
  res.cache_written = written;
  return res;
}

ScanResult scan_split(const DatasetInfo& ds, const std::string& split, bool use_cache) {
  const Split& s = ds.split(split);
  return scan_images(s.images, ds.nc, cache_path_for(s.sources, s.images), use_cache);
}

}  // namespace yolocpp::data
