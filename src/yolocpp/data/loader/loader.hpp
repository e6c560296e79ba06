// The data loader (ultralytics 8.3.58 data/build.py build_dataloader): `workers` threads decode, augment and collate
// whole batches ahead of the consumer through a bounded prefetch window. Threads, not processes: samples are plain
// values and the augment library has no global state.
//
// Determinism: the batch order of an epoch comes from a shuffle seeded by (seed, epoch), and every sample's
// random stream from (seed, epoch, dataset index). Mosaic partners are drawn uniformly over the dataset
// (upstream's cache=ram behaviour) instead of from a per-worker buffer of recent images, because the
// buffer's content depends on which worker happened to load what. So batch k is a pure function of
// (seed, epoch, k): identical for any worker count and any thread timing.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "yolocpp/data/augment/pipeline.hpp"
#include "yolocpp/data/augment/rect.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/scan.hpp"
#include "yolocpp/data/loader/batch.hpp"

namespace yolocpp::engine {

namespace fs = std::filesystem;

enum class LoaderMode { Train, Val };
enum class CacheMode { None, Ram, Disk };

// The `cache` setting: False/None/"" -> None, True/ram -> Ram, disk -> Disk. Throws ConfigError otherwise.
CacheMode parse_cache_mode(const std::string& value);

struct LoaderOptions {
  LoaderMode mode = LoaderMode::Train;
  int imgsz = 640;
  int batch = 16;           // capped at the number of images
  int workers = 0;          // 0: batches are made on the consumer's thread inside next()
  uint64_t seed = 0;
  bool shuffle = true;      // train only; rect training turns it off (upstream warns and does the same)
  std::optional<bool> rect; // unset: true for Val, false for Train
  int stride = 32;
  CacheMode cache = CacheMode::None;
  augment::Hyp hyp;         // train augmentation
  bool single_cls = false;
  bool float_img = false;   // deliver img as float32 / 255 (made in the worker threads)
  size_t prefetch = 0;      // batches made ahead of the consumer; 0 -> 2 * max(workers, 1)
  fs::path disk_cache_dir;  // cache=disk fallback when the image folder is not writable; empty -> util::cache_dir()/npy
  double ram_margin = 0.5;  // cache=ram needs (1 + margin) x the decoded bytes available (upstream's safety margin)
  // cache=None: keep the decoded, resized images in RAM anyway when they need at most this fraction of the
  // available memory (0: never). Upstream's cache=False draws mosaic partners from a buffer of recent images
  // that are still in memory; ours are uniform over the dataset (above), so without this every mosaic
  // decodes ~4.4 images. The pixels are the same either way (test Loader.CachesGiveTheSamePixels).
  double auto_ram_fraction = 0.0;
  // Distributed training (train mode): this rank takes the DistributedSampler-style shard (shard_order) of
  // each epoch's seeded order, which is the same on every rank; `batch` is then the per-rank batch.
  int rank = 0;
  int world_size = 1;
};

class Loader {
 public:
  // items: the images and labels of a split (data::scan_split). The label boxes are normalised xywh.
  Loader(std::vector<data::ImageLabels> items, LoaderOptions opt);
  // Scans the split (using its label cache) and builds the loader on its kept images.
  Loader(const data::DatasetInfo& ds, const std::string& split, LoaderOptions opt);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Batches per epoch, ceil(N / batch), N being this rank's shard (ceil(images / world_size)) in DDP.
  size_t size() const { return (shard_images() + opt_.batch - 1) / opt_.batch; }
  size_t shard_images() const {
    const size_t w = static_cast<size_t>(std::max(opt_.world_size, 1));
    return (items_.size() + w - 1) / w;
  }
  size_t num_images() const { return items_.size(); }
  int batch_size() const { return opt_.batch; }
  int epoch() const { return epoch_; }
  const LoaderOptions& options() const { return opt_; }
  const std::vector<data::ImageLabels>& items() const { return items_; }
  CacheMode cache_mode() const { return opt_.cache; }  // may have fallen back to None (RAM check), or be Ram by auto_ram_fraction
  bool auto_ram() const { return auto_ram_; }           // Ram chosen by auto_ram_fraction, not by the cache setting
  // Rect batching in effect: the sorted order and the letterbox shape per batch (empty when not rect).
  const std::optional<augment::RectBatches>& rect_batches() const { return rect_; }

  // Starts (or restarts) epoch e: drops batches made ahead for the previous one, reshuffles.
  void set_epoch(int e);
  // From now on no mosaic (and no mixup) in training samples; takes effect with the next epoch (set_epoch).
  void close_mosaic();
  // The next batch of the current epoch (starting epoch 0 on the first call), or nullopt at its end.
  // Rethrows a worker's failure as DataError naming the image.
  std::optional<Batch> next();

  // The dataset indices of batch k in epoch e (the plan the workers follow), for tests and diagnostics.
  std::vector<std::vector<int>> epoch_plan(int e) const;

 private:
  struct Slot;  // one worker's transform
  void init();
  void start_epoch();
  void stop_workers();
  void worker_loop(size_t w);
  Batch make_batch(size_t k, size_t slot);
  augment::Sample load_sample(int index);  // long-side resized image + labels as xyxy pixels
  cv::Mat decode(int index);               // full-size BGR, through the disk cache when cache=disk
  bool check_ram();
  uint64_t decoded_bytes() const;  // the RAM cache's size: every image resized to imgsz (long side), 3 bytes a pixel

  std::vector<data::ImageLabels> items_;
  LoaderOptions opt_;
  std::optional<augment::RectBatches> rect_;
  std::vector<std::vector<int>> batches_;  // current epoch's plan
  std::vector<std::unique_ptr<Slot>> slots_;
  int epoch_ = 0;
  bool started_ = false;
  bool mosaic_closed_ = false;
  size_t next_k_ = 0;  // next batch the consumer gets

  // Worker state, guarded by mu_.
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> threads_;
  size_t claim_k_ = 0;  // next batch a worker may claim
  bool stop_ = false;
  std::map<size_t, Batch> ready_;
  std::map<size_t, std::exception_ptr> failed_;

  // RAM cache (resized images), filled on first use.
  std::mutex cache_mu_;
  std::vector<cv::Mat> ram_;
  std::vector<cv::Size> ram_ori_;
  bool auto_ram_ = false;
};

}  // namespace yolocpp::engine
