// `yolocpp pack data=... out=x.tar.gz`: one relocatable, verified, deterministic archive of a dataset.
#include <cstdio>
#include <string>

#include "cli/modes.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/pack.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::cli {

namespace {
bool given(const Settings& s, const char* key) { return s.has(key) && !s.is_none(key); }
}  // namespace

int run_pack(const Settings& s) {
  if (!given(s, "data"))
    throw ConfigError("pack needs a dataset: pass data=path/to/data.yaml (and out=name.tar.gz)");
  data::DatasetInfo ds = data::load_dataset(s.str("data"));
  // Default name: the dataset folder's name, in the current directory.
  std::string out = given(s, "out") ? s.str("out") : ds.root.filename().string() + ".tar.gz";
  if (out.size() < 7 || out.compare(out.size() - 7, 7, ".tar.gz") != 0)
    throw ConfigError("out=" + out + ": pack writes a gzip-compressed tar; give a name ending in .tar.gz");
  size_t images = 0;
  for (const auto& sp : ds.splits) images += sp.images.size();
  data::PackResult r = data::pack_dataset(ds, out);
  std::printf("packed %s: %zu images in %zu splits, %zu files, %.1f MB\n", ds.yaml.string().c_str(), images,
              ds.splits.size(), r.files, static_cast<double>(r.bytes) / 1e6);
  std::printf("archive: %s\nsha256:  %s\n", r.archive.string().c_str(), r.sha256.c_str());
  return 0;
}

}  // namespace yolocpp::cli
