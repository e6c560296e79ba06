#include "yolocpp/io/weights.hpp"

#ifndef YOLOCPP_NO_DOWNLOAD
#include <curl/curl.h>
#endif
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultAssets = "https://github.com/ultralytics/assets/releases/download/v8.3.0";
// A real detection checkpoint is megabytes; anything tiny is an error page or a stub.
constexpr size_t kMinBytes = 64 * 1024;

struct Transfer {
  util::AtomicFile* file = nullptr;
  size_t bytes = 0;
  std::string head;  // first bytes, to recognise HTML error pages
  bool tty = false;
  std::string name;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), last_draw{};
};

#ifndef YOLOCPP_NO_DOWNLOAD
size_t on_data(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->head.size() < 512) t->head.append(p, std::min(len, 512 - t->head.size()));
  t->file->stream().write(p, static_cast<std::streamsize>(len));
  if (!t->file->stream()) return 0;  // abort: disk full or similar
  t->bytes += len;
  return len;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->tty) return 0;
  auto tnow = std::chrono::steady_clock::now();
  if (tnow - t->last_draw < std::chrono::milliseconds(100) && now != total) return 0;
  t->last_draw = tnow;
  double secs = std::chrono::duration<double>(tnow - t->start).count();
  double mb = now / 1048576.0, rate = secs > 0 ? mb / secs : 0;
  if (total > 0) {
    int width = 30, fill = static_cast<int>(width * now / total);
    std::fprintf(stderr, "\rDownloading %s %3d%% |%s%s| %.1f/%.1f MB %.1f MB/s", t->name.c_str(),
                 static_cast<int>(100 * now / total), std::string(fill, '#').c_str(), std::string(width - fill, ' ').c_str(),
                 mb, total / 1048576.0, rate);
  } else {
    std::fprintf(stderr, "\rDownloading %s %.1f MB %.1f MB/s", t->name.c_str(), mb, rate);
  }
  std::fflush(stderr);
  return 0;
}

#endif
std::string assets_base() {
  const char* e = std::getenv("YOLOCPP_ASSETS_URL");
  std::string b = e && *e ? e : kDefaultAssets;
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b;
}

}  // namespace

bool is_known_asset(const std::string& name) {
  for (const char* fam : {"yolo11", "yolov8"})
    for (char s : std::string("nsmlx"))
      if (name == fmt::format("{}{}.pt", fam, s)) return true;
  return false;
}

#ifdef YOLOCPP_NO_DOWNLOAD
// The train-only build (YOLOCPP_TRAIN_ONLY: what `cloud train` builds on an instance) has no downloader:
// the cloud job resolves released weights on the user's machine and uploads the file.
void download_weights(const std::string& url, const std::string& dest) {
  throw ModelError(fmt::format("this yolocpp is a train-only build without a downloader, so {} cannot be fetched; "
                               "put the file at {} or pass model=/path/to/file.pt", url, dest));
}
#else
void download_weights(const std::string& url, const std::string& dest) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const std::string fix = fmt::format("download it yourself and put it at {} (or pass model=/path/to/file.pt)", dest);
  fs::create_directories(fs::path(dest).parent_path());
  util::AtomicFile out{fs::path(dest)};
  Transfer t;
  t.file = &out;
  t.tty = isatty(STDERR_FILENO);
  t.name = fs::path(dest).filename().string();
  CURL* c = curl_easy_init();
  if (!c) throw ModelError("could not start libcurl to download " + url + "; " + fix);
  char err[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);  // GitHub release assets redirect to a CDN
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);  // < 1 KB/s for 20 s: give up rather than hang
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 20L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "yolocpp");
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  if (t.tty) std::fprintf(stderr, "\n");
  if (rc != CURLE_OK)
    throw ModelError(fmt::format("could not download {}: {} (are you offline?); {}", url, *err ? err : curl_easy_strerror(rc), fix));
  if (status >= 400) throw ModelError(fmt::format("could not download {}: HTTP {}; {}", url, status, fix));
  size_t first = t.head.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && t.head[first] == '<')
    throw ModelError(fmt::format("download of {} returned an HTML page, not weights; {}", url, fix));
  if (t.bytes < kMinBytes)
    throw ModelError(fmt::format("download of {} is only {} bytes, too small for a model; {}", url, t.bytes, fix));
  if (!ZipReader::looks_like_zip(t.head))
    throw ModelError(fmt::format("download of {} is not a checkpoint (no ZIP signature); {}", url, fix));
  out.commit();
  log::info("Downloaded {} ({:.1f} MB) to {}", url, t.bytes / 1048576.0, dest);
}

#endif

std::string resolve_weights(const std::string& name) {
  if (fs::exists(name)) return name;
  const std::string base = fs::path(name).filename().string();
  if (!is_known_asset(base))
    throw ModelError(fmt::format("model file '{}' not found; give a path to a .pt checkpoint, a model yaml "
                                 "(e.g. yolo11n.yaml), or a released name such as yolo11n.pt",
                                 name));
  fs::path cached = util::cache_dir() / "weights" / base;
  if (fs::exists(cached)) return cached.string();
  download_weights(assets_base() + "/" + base, cached.string());
  return cached.string();
}

}  // namespace yolocpp::io
