// TensorBoard event files: CRC-32C, the TFRecord framing and the Event/Summary protobuf fields, read back
// with an independent decoder (a small protobuf wire-format reader written here for the test).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>

#include "common/test_util.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/tb_events.hpp"

using namespace yolocpp;

namespace {

struct Field {
  int wire = 0;
  uint64_t v = 0;     // varint / fixed bits
  std::string bytes;  // length-delimited
};

uint64_t read_varint(const std::string& s, size_t& p) {
  uint64_t v = 0;
  for (int shift = 0; p < s.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(s[p++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("truncated varint");
}

std::multimap<int, Field> fields(const std::string& s) {
  std::multimap<int, Field> out;
  size_t p = 0;
  while (p < s.size()) {
    const uint64_t k = read_varint(s, p);
    Field f;
    f.wire = static_cast<int>(k & 7);
    if (f.wire == 0) f.v = read_varint(s, p);
    else if (f.wire == 1) { std::memcpy(&f.v, s.data() + p, 8); p += 8; }
    else if (f.wire == 5) { uint32_t x; std::memcpy(&x, s.data() + p, 4); f.v = x; p += 4; }
    else if (f.wire == 2) { const auto n = read_varint(s, p); f.bytes = s.substr(p, n); p += n; }
    else throw std::runtime_error("bad wire type");
    out.emplace(static_cast<int>(k >> 3), f);
  }
  return out;
}

}  // namespace

TEST(TbEvents, Crc32cKnownValue) {
  EXPECT_EQ(util::crc32c("123456789"), 0xe3069283u);  // the standard CRC-32C check value
  EXPECT_EQ(util::crc32c(""), 0u);
}

TEST(TbEvents, ScalarsAndImageReadBack) {
  test::TempDir t;
  std::filesystem::path file;
  {
    util::EventWriter w(t.path());
    file = w.path();
    w.scalars(3, {{"metrics/mAP50(B)", 0.25}, {"train/box_loss", 1.5}});
    w.image(3, "results", std::string("\x89PNG fake", 9), 4, 6, 3);
  }
  EXPECT_NE(file.filename().string().find("events.out.tfevents."), std::string::npos);
  auto recs = util::read_event_records(file);
  ASSERT_EQ(recs.size(), 3u);
  auto first = fields(recs[0]);
  EXPECT_EQ(first.find(3)->second.bytes, "brain.Event:2");
  EXPECT_EQ(first.find(1)->second.wire, 1);  // wall_time, a double
  auto ev = fields(recs[1]);
  EXPECT_EQ(ev.find(2)->second.v, 3u);  // step
  auto summary = fields(ev.find(5)->second.bytes);
  ASSERT_EQ(summary.count(1), 2u);
  std::map<std::string, float> got;
  for (auto it = summary.lower_bound(1); it != summary.upper_bound(1); ++it) {
    auto v = fields(it->second.bytes);
    const uint32_t bits = static_cast<uint32_t>(v.find(2)->second.v);
    float f;
    std::memcpy(&f, &bits, 4);
    got[v.find(1)->second.bytes] = f;
  }
  EXPECT_FLOAT_EQ(got.at("metrics/mAP50(B)"), 0.25f);
  EXPECT_FLOAT_EQ(got.at("train/box_loss"), 1.5f);
  auto img_value = fields(fields(fields(recs[2]).find(5)->second.bytes).find(1)->second.bytes);
  EXPECT_EQ(img_value.find(1)->second.bytes, "results");
  auto img = fields(img_value.find(4)->second.bytes);
  EXPECT_EQ(img.find(1)->second.v, 4u);
  EXPECT_EQ(img.find(2)->second.v, 6u);
  EXPECT_EQ(img.find(4)->second.bytes, std::string("\x89PNG fake", 9));
  // One flipped payload byte fails the record's CRC, naming the file.
  std::string bytes = util::read_file(file);
  bytes[bytes.size() - 10] ^= 1;
  util::atomic_write(file, bytes);
  EXPECT_THROW(util::read_event_records(file), IoError);
}
