#include "yolocpp/util/tb_events.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::util {

namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> t = [] {
    std::array<uint32_t, 256> a{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // Castagnoli, reflected
      a[i] = c;
    }
    return a;
  }();
  return t;
}

// Protobuf wire format, the few field kinds an Event needs.
void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void key(std::string& out, int field, int wire) { varint(out, static_cast<uint64_t>(field) << 3 | wire); }
void fixed64(std::string& out, int field, double v) {
  key(out, field, 1);
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}
void fixed32(std::string& out, int field, float v) {
  key(out, field, 5);
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}
void bytes(std::string& out, int field, std::string_view v) {
  key(out, field, 2);
  varint(out, v.size());
  out.append(v);
}
void int_field(std::string& out, int field, int64_t v) {
  key(out, field, 0);
  varint(out, static_cast<uint64_t>(v));
}

double wall_time() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

std::string event(int64_t step, const std::string& summary) {
  std::string e;
  fixed64(e, 1, wall_time());
  int_field(e, 2, step);
  bytes(e, 5, summary);
  return e;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = crc_table()[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t masked_crc32c(std::string_view data) {
  const uint32_t c = crc32c(data);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventWriter::EventWriter(const std::filesystem::path& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  std::filesystem::create_directories(dir);
  path_ = dir / ("events.out.tfevents." + std::to_string(static_cast<int64_t>(wall_time())) + "." + host + "." +
                 std::to_string(::getpid()) + ".0");
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw IoError("tensorboard: cannot create " + path_.string());
  std::string e;
  fixed64(e, 1, wall_time());
  bytes(e, 3, "brain.Event:2");
  record(e);
}

void EventWriter::record(const std::string& payload) {
  const std::string len = le64(payload.size());
  out_ << len << le32(masked_crc32c(len)) << payload << le32(masked_crc32c(payload));
  out_.flush();
  if (!out_) throw IoError("tensorboard: cannot write " + path_.string());
}

void EventWriter::scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  std::string summary;
  for (const auto& [tag, v] : values) {
    std::string value;
    bytes(value, 1, tag);
    fixed32(value, 2, static_cast<float>(v));
    bytes(summary, 1, value);
  }
  record(event(step, summary));
}

void EventWriter::image(int64_t step, const std::string& tag, std::string_view encoded, int height, int width,
                        int channels) {
  std::string img;
  int_field(img, 1, height);
  int_field(img, 2, width);
  int_field(img, 3, channels);
  bytes(img, 4, encoded);
  std::string value;
  bytes(value, 1, tag);
  bytes(value, 4, img);
  std::string summary;
  bytes(summary, 1, value);
  record(event(step, summary));
}

std::vector<std::string> read_event_records(const std::filesystem::path& file) {
  const std::string data = read_file(file);
  std::vector<std::string> out;
  size_t p = 0;
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(data[at + i]);
    return v;
  };
  while (p < data.size()) {
    if (p + 12 > data.size()) throw IoError(file.string() + ": truncated record header at byte " + std::to_string(p));
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(data[p + i]);
    if (u32(p + 8) != masked_crc32c(std::string_view(data).substr(p, 8)))
      throw IoError(file.string() + ": bad length CRC at byte " + std::to_string(p));
    if (n > data.size() - p - 12 || data.size() - p - 12 - n < 4)
      throw IoError(file.string() + ": truncated record at byte " + std::to_string(p));
    std::string_view payload = std::string_view(data).substr(p + 12, n);
    if (u32(p + 12 + n) != masked_crc32c(payload)) throw IoError(file.string() + ": bad data CRC at byte " + std::to_string(p));
    out.emplace_back(payload);
    p += 16 + n;
  }
  return out;
}

}  // namespace yolocpp::util
