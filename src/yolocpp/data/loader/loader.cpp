#include "yolocpp/data/loader/loader.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include "yolocpp/data/augment/load.hpp"
#include "yolocpp/data/shard.hpp"
#include "yolocpp/data/augment/rng.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::engine {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- cache=disk: the decoded image as a NumPy .npy file (v1.0, uint8, C order, shape (h, w, 3)), the same
// file upstream writes, so a cache made by either tool is usable by the other.

std::string npy_header(int h, int w) {
  std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (" + std::to_string(h) + ", " +
                     std::to_string(w) + ", 3), }";
  // magic(6) + version(2) + length(2) + dict + padding + '\n' is a multiple of 64 (the format's alignment).
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(dict.size());
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>(len >> 8));
  return out + dict;
}

void write_npy(const fs::path& path, const cv::Mat& img) {
  util::AtomicFile f(path);
  const std::string hdr = npy_header(img.rows, img.cols);
  auto& os = f.stream();
  os.write(hdr.data(), static_cast<std::streamsize>(hdr.size()));
  const cv::Mat c = img.isContinuous() ? img : img.clone();
  os.write(reinterpret_cast<const char*>(c.data), static_cast<std::streamsize>(c.total() * c.elemSize()));
  if (!os) throw IoError("cannot write image cache '" + path.string() + "'");
  f.commit();
}

// Returns an empty Mat when the file is not a uint8 (h, w, 3) C-order array of the full length.
cv::Mat read_npy(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char pre[10];
  if (!in.read(pre, 10) || std::memcmp(pre, "\x93NUMPY", 6) != 0) return {};
  size_t hlen;
  if (pre[6] == 1) {
    hlen = static_cast<unsigned char>(pre[8]) | (static_cast<unsigned char>(pre[9]) << 8);
  } else {
    char more[2];
    if (!in.read(more, 2)) return {};
    hlen = static_cast<unsigned char>(pre[8]) | (static_cast<unsigned char>(pre[9]) << 8) |
           (static_cast<size_t>(static_cast<unsigned char>(more[0])) << 16) |
           (static_cast<size_t>(static_cast<unsigned char>(more[1])) << 24);
  }
  std::string hdr(hlen, '\0');
  if (hlen > 4096 || !in.read(hdr.data(), static_cast<std::streamsize>(hlen))) return {};
  if (hdr.find("'|u1'") == std::string::npos || hdr.find("'fortran_order': False") == std::string::npos) return {};
  const auto sp = hdr.find("'shape': (");
  if (sp == std::string::npos) return {};
  int h = 0, w = 0, c = 0;
  if (std::sscanf(hdr.c_str() + sp + 10, "%d, %d, %d", &h, &w, &c) != 3 || h <= 0 || w <= 0 || c != 3) return {};
  cv::Mat img(h, w, CV_8UC3);
  if (!in.read(reinterpret_cast<char*>(img.data), static_cast<std::streamsize>(img.total() * 3))) return {};
  return img;
}

bool newer_or_same(const fs::path& cache, const fs::path& src) {
  std::error_code e1, e2;
  auto a = fs::last_write_time(cache, e1), b = fs::last_write_time(src, e2);
  return !e1 && !e2 && a >= b;
}

// Bytes of memory the kernel says can be given to us without swapping; 0 when unknown.
uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

constexpr uint64_t kShuffleSalt = 0x5348554646ULL;  // "SHUFF": keeps the shuffle stream apart from samples
constexpr uint64_t kSampleSalt = 0x53414d504cULL;   // "SAMPL"

}  // namespace

CacheMode parse_cache_mode(const std::string& value) {
  const std::string v = lower(value);
  if (v.empty() || v == "false" || v == "none" || v == "null" || v == "0") return CacheMode::None;
  if (v == "true" || v == "ram" || v == "1") return CacheMode::Ram;
  if (v == "disk") return CacheMode::Disk;
  throw ConfigError("cache=" + value + " is not a cache mode: use cache=False, cache=ram (or True) or cache=disk");
}

struct Loader::Slot {
  std::unique_ptr<augment::TrainTransform> train;
  std::unique_ptr<augment::ValTransform> val;
};

Loader::Loader(std::vector<data::ImageLabels> items, LoaderOptions opt) : items_(std::move(items)), opt_(opt) {
  init();
}

Loader::Loader(const data::DatasetInfo& ds, const std::string& split, LoaderOptions opt) : opt_(opt) {
  data::ScanResult scan = data::scan_split(ds, split);
  for (const auto& w : scan.warnings) log::warn("{}", w);
  items_ = std::move(scan.items);
  if (items_.empty())
    throw DataError("dataset '" + ds.source + "' split '" + split + "' has no usable images (" +
                    std::to_string(scan.counts.corrupt) + " corrupt); check the images and labels of that split");
  init();
}

Loader::~Loader() { stop_workers(); }

void Loader::init() {
  if (items_.empty()) throw DataError("loader: the split has no images");
  if (opt_.imgsz <= 0) throw ConfigError("imgsz must be positive (got " + std::to_string(opt_.imgsz) + ")");
  if (opt_.batch <= 0) throw ConfigError("batch must be positive (got " + std::to_string(opt_.batch) + ")");
  if (opt_.workers < 0) throw ConfigError("workers must be >= 0 (got " + std::to_string(opt_.workers) + ")");
  if (opt_.world_size > 1 && opt_.mode == LoaderMode::Train && opt_.rect.value_or(false))
    // The rect batch shapes belong to consecutive runs of the sorted order, which a rank's shard is not.
    throw ConfigError("rect=True cannot be used with distributed training (WORLD_SIZE>1); drop rect=True");
  const size_t n = items_.size();
  opt_.batch = static_cast<int>(std::min<size_t>(static_cast<size_t>(opt_.batch), n));
  if (opt_.prefetch == 0) opt_.prefetch = 2 * static_cast<size_t>(std::max(opt_.workers, 1));
  const bool train = opt_.mode == LoaderMode::Train;
  const bool rect = opt_.rect.value_or(!train);
  if (rect) {
    std::vector<cv::Size> shapes;
    shapes.reserve(n);
    for (const auto& it : items_) shapes.emplace_back(it.width, it.height);
    rect_ = augment::rect_batch_shapes(shapes, opt_.imgsz, opt_.batch, opt_.stride, train ? 0.0 : 0.5);
    if (train && opt_.shuffle) {
      log::warn("rect=True is incompatible with DataLoader shuffle, setting shuffle=False");
      opt_.shuffle = false;
    }
  }
  if (opt_.cache == CacheMode::Ram && !check_ram()) opt_.cache = CacheMode::None;
  if (opt_.cache == CacheMode::None && opt_.auto_ram_fraction > 0) {
    const double need = static_cast<double>(decoded_bytes()), gb = 1 << 30;
    const uint64_t avail = mem_available();
    if (avail != 0 && need <= opt_.auto_ram_fraction * static_cast<double>(avail)) {
      opt_.cache = CacheMode::Ram;
      auto_ram_ = true;
      log::info("Keeping decoded images in RAM ({:.2f}GB, under {:.0f}% of the {:.1f}GB available) so mosaic does "
                "not decode them again every epoch; cache=False turns this off",
                need / gb, opt_.auto_ram_fraction * 100, static_cast<double>(avail) / gb);
    }
  }
  if (opt_.cache == CacheMode::Ram) {
    ram_.resize(n);
    ram_ori_.resize(n);
  }
  const size_t nslots = static_cast<size_t>(std::max(opt_.workers, 1));
  for (size_t w = 0; w < nslots; ++w) {
    auto slot = std::make_unique<Slot>();
    if (train) {
      augment::TrainOptions to;
      to.imgsz = opt_.imgsz;
      to.dataset_size = n;
      // The transform's buffer now only memoises recent decodes (same pixels either way); partner choice is
      // uniform over the dataset, see the header.
      to.buffer_length = augment::default_buffer_length(n, opt_.batch);
      to.cache_ram = true;
      to.rect = rect;
      slot->train = std::make_unique<augment::TrainTransform>(opt_.hyp, to, [this](int i) { return load_sample(i); });
    } else {
      slot->val = std::make_unique<augment::ValTransform>(opt_.imgsz);
    }
    slots_.push_back(std::move(slot));
  }
}

uint64_t Loader::decoded_bytes() const {
  uint64_t bytes = 0;
  for (const auto& it : items_) {
    const cv::Size s = augment::long_side_size({std::max(it.width, 1), std::max(it.height, 1)}, opt_.imgsz);
    bytes += static_cast<uint64_t>(s.area()) * 3;
  }
  return bytes;
}

bool Loader::check_ram() {
  const uint64_t bytes = decoded_bytes();
  const double need = static_cast<double>(bytes) * (1.0 + opt_.ram_margin), gb = 1 << 30;
  const uint64_t avail = mem_available();
  if (avail != 0 && need > static_cast<double>(avail)) {
    log::warn("cache=ram needs {:.1f}GB of RAM for {} images at imgsz={} but only {:.1f}GB is available; not caching "
              "images (use cache=disk or a smaller imgsz)",
              need / gb, items_.size(), opt_.imgsz, static_cast<double>(avail) / gb);
    return false;
  }
  log::info("Caching images ({:.1f}GB RAM, filled on first use)", static_cast<double>(bytes) / gb);
  return true;
}

cv::Mat Loader::decode(int index) {
  const fs::path& img = items_[static_cast<size_t>(index)].image;
  if (opt_.cache != CacheMode::Disk) {
    cv::Mat m = cv::imread(img.string(), cv::IMREAD_COLOR);
    if (m.empty())
      throw DataError("cannot decode image '" + img.string() + "'; check that the file exists and is a valid image");
    return m;
  }
  fs::path beside = fs::path(img).replace_extension(".npy");
  fs::path dir = opt_.disk_cache_dir.empty() ? util::cache_dir() / "npy" : opt_.disk_cache_dir;
  fs::path fallback = dir / (util::sha256_hex(fs::absolute(img).string()).substr(0, 24) + ".npy");
  for (const fs::path& p : {beside, fallback}) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && newer_or_same(p, img)) {
      cv::Mat m = read_npy(p);
      if (!m.empty()) return m;  // a damaged cache file is simply rewritten below
    }
  }
  cv::Mat m = cv::imread(img.string(), cv::IMREAD_COLOR);
  if (m.empty())
    throw DataError("cannot decode image '" + img.string() + "'; check that it is a valid image");
  // A read-only dataset folder (no write bits, even as root, or a read-only mount) is never written into:
  // its .npy files go to our own cache dir instead.
  bool beside_ok = util::folder_writable(beside.parent_path());
  if (beside_ok) {
    try {
      write_npy(beside, m);
    } catch (const std::exception&) {
      beside_ok = false;
    }
  }
  if (!beside_ok) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    try {
      write_npy(fallback, m);
    } catch (const std::exception& e) {
      log::warn("cache=disk: cannot write '{}' nor '{}' ({}); decoding every time", beside.string(),
                fallback.string(), e.what());
    }
  }
  return m;
}

augment::Sample Loader::load_sample(int index) {
  const data::ImageLabels& it = items_.at(static_cast<size_t>(index));
  augment::Sample s;
  try {
    if (opt_.cache == CacheMode::Ram) {
      cv::Mat img;
      cv::Size ori;
      {
        std::lock_guard<std::mutex> lk(cache_mu_);
        img = ram_[static_cast<size_t>(index)];
        ori = ram_ori_[static_cast<size_t>(index)];
      }
      if (img.empty()) {
        s = augment::make_sample(decode(index), opt_.imgsz);
        std::lock_guard<std::mutex> lk(cache_mu_);
        ram_[static_cast<size_t>(index)] = s.img;
        ram_ori_[static_cast<size_t>(index)] = s.ori_shape;
      } else {
        s.img = img;  // shared: every consumer copies before writing (TrainTransform clones, letterbox makes new)
        s.ori_shape = ori;
        s.resized_shape = img.size();
        s.ratio_hw = {static_cast<double>(img.rows) / ori.height, static_cast<double>(img.cols) / ori.width};
      }
    } else if (opt_.cache == CacheMode::Disk) {
      s = augment::make_sample(decode(index), opt_.imgsz);
    } else {
      s = augment::load_image(it.image.string(), opt_.imgsz);
    }
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find(it.image.string()) != std::string::npos) throw;
    throw DataError("image '" + it.image.string() + "': " + what);
  }
  std::vector<std::array<float, 4>> xywhn;
  std::vector<int> cls;
  for (const data::Box& b : it.boxes) {
    xywhn.push_back({b.x, b.y, b.w, b.h});
    cls.push_back(b.cls);
  }
  s.inst = augment::from_xywhn(xywhn, cls, s.img.cols, s.img.rows);
  s.index = index;
  return s;
}

std::vector<std::vector<int>> Loader::epoch_plan(int e) const {
  const size_t n = items_.size(), B = static_cast<size_t>(opt_.batch);
  std::vector<int> order(n);
  if (rect_) {
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<int>(rect_->order[i]);
  } else {
    std::iota(order.begin(), order.end(), 0);
    if (opt_.mode == LoaderMode::Train && opt_.shuffle) {
      augment::Rng rng(augment::mix_seed(augment::mix_seed(opt_.seed, kShuffleSalt), static_cast<uint64_t>(e)));
      for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[static_cast<size_t>(rng.randint(static_cast<int64_t>(i)))]);
    }
  }
  // DDP: every rank made the same order above (same seed and epoch); each keeps its own shard of it.
  if (opt_.mode == LoaderMode::Train && opt_.world_size > 1) order = shard_order(order, opt_.rank, opt_.world_size);
  const size_t m = order.size();
  std::vector<std::vector<int>> plan;
  for (size_t k = 0; k * B < m; ++k)  // drop_last = False: the last batch may be smaller
    plan.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(k * B),
                      order.begin() + static_cast<std::ptrdiff_t>(std::min(m, (k + 1) * B)));
  return plan;
}

Batch Loader::make_batch(size_t k, size_t slot_index) {
  Slot& slot = *slots_[slot_index];
  const std::vector<int>& idx = batches_[k];
  std::optional<cv::Size> shape;
  if (rect_) shape = rect_->batch_shape[k];
  std::vector<augment::Sample> samples;
  std::vector<std::string> files;
  samples.reserve(idx.size());
  for (int i : idx) {
    const std::string file = items_[static_cast<size_t>(i)].image.string();
    try {
      if (slot.train) {
        augment::Rng rng(augment::mix_seed(
            augment::mix_seed(augment::mix_seed(opt_.seed, kSampleSalt), static_cast<uint64_t>(epoch_)),
            static_cast<uint64_t>(i)));
        augment::Sample s = (*slot.train)(i, rng, shape);
        s.index = i;
        samples.push_back(std::move(s));
      } else {
        samples.push_back((*slot.val)(load_sample(i), shape));
      }
    } catch (const std::exception& e) {
      const std::string what = e.what();
      if (what.find(file) != std::string::npos) throw DataError(what);
      throw DataError("loader: image '" + file + "': " + what);
    }
    files.push_back(file);
  }
  return collate(samples, files, opt_.single_cls, opt_.float_img);
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  stop_ = false;
  ready_.clear();
  failed_.clear();
}

void Loader::start_epoch() {
  stop_workers();
  batches_ = epoch_plan(epoch_);
  if (mosaic_closed_)
    for (auto& s : slots_)
      if (s->train) s->train->close_mosaic();
  next_k_ = claim_k_ = 0;
  started_ = true;
  for (int w = 0; w < opt_.workers; ++w) threads_.emplace_back([this, w] { worker_loop(static_cast<size_t>(w)); });
}

void Loader::set_epoch(int e) {
  epoch_ = e;
  start_epoch();
}

void Loader::close_mosaic() { mosaic_closed_ = true; }

void Loader::worker_loop(size_t w) {
  for (;;) {
    size_t k;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || claim_k_ >= batches_.size() || claim_k_ < next_k_ + opt_.prefetch; });
      if (stop_ || claim_k_ >= batches_.size()) return;
      k = claim_k_++;
    }
    try {
      Batch b = make_batch(k, w);
      std::lock_guard<std::mutex> lk(mu_);
      ready_.emplace(k, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      failed_.emplace(k, std::current_exception());
    }
    cv_done_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  if (!started_) start_epoch();
  if (next_k_ >= batches_.size()) return std::nullopt;
  if (opt_.workers == 0) return make_batch(next_k_++, 0);
  std::unique_lock<std::mutex> lk(mu_);
  const size_t k = next_k_;
  cv_done_.wait(lk, [&] { return ready_.count(k) || failed_.count(k); });
  if (auto f = failed_.find(k); f != failed_.end()) {
    std::exception_ptr ex = f->second;
    lk.unlock();
    stop_workers();
    next_k_ = batches_.size();  // the epoch is over; set_epoch starts a new one
    std::rethrow_exception(ex);
  }
  Batch b = std::move(ready_.at(k));
  ready_.erase(k);
  ++next_k_;
  lk.unlock();
  cv_work_.notify_all();
  return b;
}

}  // namespace yolocpp::engine
