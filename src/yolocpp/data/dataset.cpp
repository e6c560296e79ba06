#include "yolocpp/data/dataset.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "yolocpp/data/pack.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/limits.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::data {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

fs::path absolute_clean(const fs::path& p) { return fs::absolute(p).lexically_normal(); }

// A folder given as data=: data.yaml, then dataset.yaml, then its only *.yaml / *.yml.
fs::path yaml_in_folder(const fs::path& dir) {
  for (const char* n : {"data.yaml", "dataset.yaml"})
    if (fs::is_regular_file(dir / n)) return dir / n;
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = lower(e.path().extension().string());
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) found.push_back(e.path());
  }
  if (found.size() == 1) return found[0];
  if (found.empty())
    throw DataError("data=" + dir.string() + " is a folder without a dataset yaml: add data.yaml there, or pass "
                    "the yaml file itself as data=path/to/file.yaml");
  std::sort(found.begin(), found.end());
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f.filename().string();
  throw DataError("data=" + dir.string() + " holds several yaml files (" + list +
                  ") and no data.yaml: pass the one you mean as data=path/to/file.yaml");
}

std::string scalar(const YAML::Node& n, const fs::path& yaml, const std::string& key) {
  if (!n.IsScalar())
    throw DataError(yaml.string() + ": '" + key + "' must be a string, got a " +
                    (n.IsSequence() ? "list" : n.IsMap() ? "mapping" : "null") + "; fix the dataset yaml");
  return n.Scalar();
}

std::vector<std::string> read_names(const YAML::Node& n, const fs::path& yaml) {
  std::vector<std::string> names;
  if (n.size() > static_cast<size_t>(util::kMaxClasses))
    throw DataError(yaml.string() + ": 'names' lists " + std::to_string(n.size()) + " classes, more than " +
                    std::to_string(util::kMaxClasses) + "; fix the dataset yaml");
  if (n.IsSequence()) {
    for (const auto& v : n) names.push_back(scalar(v, yaml, "names[]"));
    return names;
  }
  if (!n.IsMap())
    throw DataError(yaml.string() + ": 'names' must be a list [a, b, ...] or a mapping {0: a, 1: b, ...}");
  std::map<long, std::string> byid;
  for (const auto& kv : n) {
    long id;
    try {
      size_t used = 0;
      id = std::stol(kv.first.Scalar(), &used);
      if (used != kv.first.Scalar().size() || id < 0 || id >= util::kMaxClasses) throw std::out_of_range("id");
    } catch (...) {
      throw DataError(yaml.string() + ": 'names' key '" + kv.first.Scalar() +
                      "' is not an integer class id in 0.." + std::to_string(util::kMaxClasses - 1) +
                      "; use 0: name, 1: name, ...");
    }
    byid[id] = scalar(kv.second, yaml, "names[" + std::to_string(id) + "]");
  }
  long expect = 0;
  for (const auto& [id, name] : byid) {
    if (id != expect)
      throw DataError(yaml.string() + ": 'names' must cover class ids 0.." + std::to_string(byid.size() - 1) +
                      " without gaps, but id " + std::to_string(expect) + " is missing");
    names.push_back(name);
    ++expect;
  }
  return names;
}

// One string split entry. Candidates, in order:
//   1. root / s (an absolute s is used as is);
//   2. for Roboflow exports (`train: ../train/images` in a yaml that sits inside the dataset folder),
//      root / s without its leading "../". Ultralytics does exactly this retry, and with `path` absent
//      (root = the yaml's folder) it is what the Roboflow layout means: the export's yaml is written as if
//      it lived one level deeper. We keep the retry so those exports load unchanged.
fs::path resolve_entry(const std::string& s, const fs::path& root, const fs::path& yaml, const std::string& key,
                       bool allow_retry) {
  fs::path p(s);
  std::vector<fs::path> tried;
  fs::path first = p.is_absolute() ? p.lexically_normal() : (root / p).lexically_normal();
  tried.push_back(first);
  if (fs::exists(first)) return first;
  if (allow_retry && !p.is_absolute() && s.rfind("../", 0) == 0) {
    fs::path second = (root / s.substr(3)).lexically_normal();
    tried.push_back(second);
    if (fs::exists(second)) return second;
  }
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : " and ") + t.string();
  throw DataError(yaml.string() + ": " + key + ": '" + s + "' not found; looked at " + where +
                  ". Relative split paths resolve against the dataset root '" + root.string() +
                  "', and a relative 'path:' resolves against the folder of the yaml itself (unlike "
                  "Ultralytics, never against the current directory or a datasets_dir). Fix 'path:' or '" +
                  key + ":' in the yaml");
}

Split read_split(const std::string& key, const YAML::Node& n, const fs::path& root, const fs::path& yaml) {
  Split sp;
  sp.name = key;
  if (n.IsSequence()) {
    // List entries get no "../" retry, as in Ultralytics.
    for (const auto& v : n) {
      sp.given.push_back(scalar(v, yaml, key + "[]"));
      sp.sources.push_back(resolve_entry(sp.given.back(), root, yaml, key, false));
    }
  } else {
    sp.given.push_back(scalar(n, yaml, key));
    sp.sources.push_back(resolve_entry(sp.given.back(), root, yaml, key, true));
  }
  sp.images = list_images(sp.sources);
  if (sp.images.empty()) {
    std::string where;
    for (const auto& s : sp.sources) where += (where.empty() ? "" : ", ") + s.string();
    throw DataError(yaml.string() + ": " + key + ": no images found in " + where + " (formats: bmp dng jpeg jpg "
                    "mpo png tif tiff webp pfm heic). Point '" + key + ":' at the folder holding the images");
  }
  return sp;
}

// Lines of a .txt image list. "./x" is relative to the list's folder (Ultralytics' rule). Other relative
// lines are relative to the CWD in Ultralytics; we try the list's folder first so a dataset does not depend
// on where the command runs, and fall back to the CWD for lists written for Ultralytics.
void read_list(const fs::path& txt, std::vector<fs::path>& out) {
  std::ifstream in(txt);
  if (!in) throw DataError("cannot read image list " + txt.string() + ": check that it exists and is readable");
  std::string line;
  fs::path dir = txt.parent_path();
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    line = line.substr(b);
    fs::path p(line);
    if (line.rfind("./", 0) == 0) {
      p = dir / line.substr(2);
    } else if (p.is_relative()) {
      p = fs::exists(dir / p) ? dir / p : fs::absolute(p);
    }
    out.push_back(p.lexically_normal());
  }
}

}  // namespace

bool DatasetInfo::has_split(const std::string& name) const {
  return std::any_of(splits.begin(), splits.end(), [&](const Split& s) { return s.name == name; });
}

const Split& DatasetInfo::split(const std::string& name) const {
  for (const auto& s : splits)
    if (s.name == name) return s;
  throw DataError(yaml.string() + " has no '" + name + ":' split; add it to the dataset yaml");
}

const std::vector<std::string>& image_formats() {
  static const std::vector<std::string> f{"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"};
  return f;
}

bool is_image_file(const fs::path& p) {
  std::string ext = lower(p.extension().string());
  if (ext.empty()) return false;
  ext = ext.substr(1);
  const auto& f = image_formats();
  return std::find(f.begin(), f.end(), ext) != f.end();
}

std::vector<fs::path> list_images(const std::vector<fs::path>& sources) {
  std::vector<fs::path> all;
  for (const auto& s : sources) {
    if (fs::is_directory(s)) {
      for (const auto& e : fs::recursive_directory_iterator(s, fs::directory_options::follow_directory_symlink))
        if (e.is_regular_file()) all.push_back(e.path().lexically_normal());
    } else if (fs::is_regular_file(s)) {
      read_list(s, all);
    }
  }
  std::vector<fs::path> imgs;
  for (auto& p : all)
    if (is_image_file(p)) imgs.push_back(std::move(p));
  // Sorted by the path string (Ultralytics' order); the same order on every machine.
  std::sort(imgs.begin(), imgs.end(), [](const fs::path& a, const fs::path& b) { return a.string() < b.string(); });
  imgs.erase(std::unique(imgs.begin(), imgs.end()), imgs.end());
  return imgs;
}

fs::path label_path_for(const fs::path& image) {
  std::string s = image.string();
  size_t k = s.rfind("/images/");
  if (k != std::string::npos) s.replace(k, 8, "/labels/");
  fs::path p(s);
  p.replace_extension(".txt");
  return p;
}

DatasetInfo load_dataset_yaml(const fs::path& yaml_in) {
  fs::path yaml = absolute_clean(yaml_in);
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(yaml.string());
  } catch (const YAML::BadFile&) {
    throw DataError("cannot read dataset yaml " + yaml.string() + ": check the path given as data=");
  } catch (const YAML::Exception& e) {
    throw DataError(yaml.string() + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML (" + e.msg +
                    "); fix the dataset yaml");
  }
  if (!doc.IsMap()) throw DataError(yaml.string() + " is not a YAML mapping of keys (path, train, val, names)");

  DatasetInfo ds;
  ds.yaml = yaml;
  ds.source = yaml.string();
  fs::path ydir = yaml.parent_path();
  // Project convention (deliberately unlike Ultralytics): a relative `path` is relative to the yaml's folder.
  if (doc["path"] && doc["path"].IsScalar() && !doc["path"].Scalar().empty()) {
    fs::path p(doc["path"].Scalar());
    ds.root = (p.is_absolute() ? p : ydir / p).lexically_normal();
    if (!fs::is_directory(ds.root))
      throw DataError(yaml.string() + ": path: '" + doc["path"].Scalar() + "' not found; looked at " +
                      ds.root.string() + " (a relative 'path:' resolves against the folder of the yaml itself, "
                      "not the current directory or a datasets_dir as in Ultralytics). Fix 'path:' in the yaml");
  } else {
    ds.root = ydir;
  }
  if (ds.root.filename().empty()) ds.root = ds.root.parent_path();  // "dir/." normalises to "dir/"

  // names / nc
  bool has_names = doc["names"] && !doc["names"].IsNull();
  bool has_nc = doc["nc"] && !doc["nc"].IsNull();
  if (has_names) ds.names = read_names(doc["names"], yaml);
  if (has_nc) {
    int nc;
    try {
      nc = doc["nc"].as<int>();
    } catch (...) {
      throw DataError(yaml.string() + ": 'nc' must be an integer number of classes");
    }
    // Bounded before class names are made up for it.
    if (nc < 1 || nc > util::kMaxClasses)
      throw DataError(yaml.string() + ": nc: " + std::to_string(nc) + " is outside 1.." +
                      std::to_string(util::kMaxClasses) + "; fix the dataset yaml");
    if (has_names && nc != static_cast<int>(ds.names.size()))
      throw DataError(yaml.string() + ": nc: " + std::to_string(nc) + " does not match the " +
                      std::to_string(ds.names.size()) + " entries of 'names'; fix nc or names so they agree");
    if (!has_names)
      for (int i = 0; i < nc; ++i) ds.names.push_back("class_" + std::to_string(i));
  }
  if (!has_names && !has_nc)
    throw DataError(yaml.string() + ": needs 'names:' (list of class names) or 'nc:' (number of classes)");
  ds.nc = static_cast<int>(ds.names.size());
  if (ds.nc <= 0) throw DataError(yaml.string() + ": the dataset has no classes; list them under 'names:'");
  // Models here take 3-channel (BGR) images; a 1- or 4-channel dataset would be silently converted, so
  // anything but 3 is refused rather than ignored.
  if (doc["channels"] && !doc["channels"].IsNull()) {
    const std::string c = doc["channels"].IsScalar() ? doc["channels"].Scalar() : "(not a number)";
    if (c != "3")
      throw DataError(yaml.string() + ": channels: " + c + " is not supported: yolocpp trains 3-channel (BGR) "
                      "models; remove 'channels:' (grayscale images are read as 3 channels) or set it to 3");
    ds.channels = 3;
  }

  for (const char* key : {"train", "val", "test", "minival"}) {
    YAML::Node n = doc[key];
    if (std::string(key) == "val" && (!n || n.IsNull()) && doc["validation"]) n = doc["validation"];
    if (!n || n.IsNull()) continue;
    if (n.IsScalar() && n.Scalar().empty()) continue;
    ds.splits.push_back(read_split(key, n, ds.root, yaml));
  }
  for (const char* key : {"train", "val"})
    if (!ds.has_split(key))
      throw DataError(yaml.string() + ": missing '" + std::string(key) + ":' (a folder of images, a .txt list of "
                      "images, or a list of those, relative to 'path:'); add it to the dataset yaml");
  return ds;
}

DatasetInfo load_dataset(const std::string& data_arg) {
  if (data_arg.empty())
    throw DataError("data= is empty: give a dataset yaml, a folder holding data.yaml, or a .tar.gz made by "
                    "`yolocpp pack`");
  fs::path p(data_arg);
  if (!fs::exists(p))
    throw DataError("dataset '" + data_arg + "' not found (looked at " + absolute_clean(p).string() +
                    "); give a dataset yaml, a folder holding data.yaml, or a .tar.gz made by `yolocpp pack`");
  if (fs::is_directory(p)) {
    DatasetInfo ds = load_dataset_yaml(yaml_in_folder(p));
    ds.source = data_arg;
    return ds;
  }
  std::string l = lower(p.filename().string());
  if (ends_with(l, ".tar.gz") || ends_with(l, ".tgz")) {
    fs::path dir = unpack_cached(p);
    DatasetInfo ds = load_dataset_yaml(yaml_in_folder(dir));
    ds.source = data_arg;
    return ds;
  }
  return load_dataset_yaml(p);
}

}  // namespace yolocpp::data
