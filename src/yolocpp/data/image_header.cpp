#include "yolocpp/data/image_header.hpp"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <vector>

#include "yolocpp/util/error.hpp"

namespace yolocpp::data {

namespace {

[[noreturn]] void bad(const std::filesystem::path& p, const std::string& why) {
  throw DataError(p.string() + ": " + why);
}

uint32_t be16(const uint8_t* b) { return (uint32_t(b[0]) << 8) | b[1]; }
uint32_t be32(const uint8_t* b) { return (be16(b) << 16) | be16(b + 2); }
uint32_t le32(const uint8_t* b) { return uint32_t(b[0]) | (uint32_t(b[1]) << 8) | (uint32_t(b[2]) << 16) | (uint32_t(b[3]) << 24); }

// EXIF orientation (tag 0x0112) from an APP1 payload that starts with "Exif\0\0".
int exif_orientation(const std::vector<uint8_t>& d) {
  if (d.size() < 14 || std::string(d.begin(), d.begin() + 4) != "Exif") return 1;
  const uint8_t* t = d.data() + 6;
  size_t n = d.size() - 6;
  bool le = t[0] == 'I' && t[1] == 'I';
  if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
  auto u16 = [&](size_t o) -> uint32_t { return le ? (t[o] | (t[o + 1] << 8)) : be16(t + o); };
  auto u32 = [&](size_t o) -> uint32_t { return le ? le32(t + o) : be32(t + o); };
  size_t ifd = u32(4);
  if (ifd + 2 > n) return 1;
  uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    size_t e = ifd + 2 + 12 * i;
    if (e + 12 > n) break;
    if (u16(e) == 0x0112) return static_cast<int>(u16(e + 8));
  }
  return 1;
}

ImageHeader read_jpeg(std::ifstream& in, const std::filesystem::path& p) {
  ImageHeader h;
  h.format = "jpeg";
  in.seekg(2);
  bool have_size = false;
  while (in && !have_size) {
    int c = in.get();
    if (c != 0xFF) bad(p, "corrupt JPEG: expected a marker, the file is damaged");
    while (c == 0xFF) c = in.get();
    if (c == EOF) break;
    if (c == 0xD9 || c == 0xDA) break;             // end of image / start of scan before any frame header
    if ((c >= 0xD0 && c <= 0xD7) || c == 0x01) continue;  // markers without a length
    uint8_t lb[2];
    if (!in.read(reinterpret_cast<char*>(lb), 2)) break;
    uint32_t len = be16(lb);
    if (len < 2) bad(p, "corrupt JPEG: bad segment length");
    bool sof = c >= 0xC0 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC;
    if (sof || c == 0xE1) {
      std::vector<uint8_t> seg(len - 2);
      if (!in.read(reinterpret_cast<char*>(seg.data()), static_cast<std::streamsize>(seg.size())))
        bad(p, "corrupt JPEG: truncated header");
      if (sof) {
        if (seg.size() < 5) bad(p, "corrupt JPEG: short frame header");
        h.height = static_cast<int>(be16(seg.data() + 1));
        h.width = static_cast<int>(be16(seg.data() + 3));
        have_size = true;
      } else if (h.orientation == 1) {
        h.orientation = exif_orientation(seg);
      }
    } else {
      in.seekg(len - 2, std::ios::cur);
    }
  }
  if (!have_size) bad(p, "corrupt JPEG: no frame header (SOF) found");
  in.clear();
  in.seekg(-2, std::ios::end);
  uint8_t tail[2] = {0, 0};
  in.read(reinterpret_cast<char*>(tail), 2);
  h.jpeg_no_eoi = !(tail[0] == 0xFF && tail[1] == 0xD9);
  return h;
}

}  // namespace

ImageHeader read_image_header(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) bad(p, "cannot open the image (missing or not readable)");
  uint8_t m[26] = {0};
  in.read(reinterpret_cast<char*>(m), sizeof m);
  std::streamsize got = in.gcount();
  in.clear();
  ImageHeader h;
  if (got >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) {
    h = read_jpeg(in, p);
  } else if (got >= 24 && be32(m) == 0x89504E47u && be32(m + 4) == 0x0D0A1A0Au) {
    h.format = "png";
    h.width = static_cast<int>(be32(m + 16));
    h.height = static_cast<int>(be32(m + 20));
  } else if (got >= 26 && m[0] == 'B' && m[1] == 'M') {
    h.format = "bmp";
    h.width = static_cast<int>(static_cast<int32_t>(le32(m + 18)));
    h.height = std::abs(static_cast<int32_t>(le32(m + 22)));
  } else {
    // TIFF, WebP, PFM, ...: let OpenCV decode the whole image; a file it cannot read is corrupt.
    cv::Mat im = cv::imread(p.string(), cv::IMREAD_UNCHANGED);
    if (im.empty()) bad(p, "cannot decode the image (not a valid image file, or a format OpenCV cannot read)");
    std::string ext = p.extension().string();
    h.format = ext.empty() ? "unknown" : ext.substr(1);
    h.width = im.cols;
    h.height = im.rows;
  }
  if (h.orientation == 6 || h.orientation == 8) std::swap(h.width, h.height);
  return h;
}

}  // namespace yolocpp::data
