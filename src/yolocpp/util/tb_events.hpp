// TensorBoard event files (`tensorboard=True`): what TensorBoard's own reader expects, without TensorFlow.
//
// The file is a sequence of TFRecords: uint64 little-endian length, masked CRC-32C of those 8 bytes, the
// payload, masked CRC-32C of the payload (mask: rotate right by 15, add 0xa282ead8). Each payload is a
// serialized `tensorflow.Event` protobuf: wall_time (field 1, double), step (2, int64), and either
// file_version (3, "brain.Event:2", the first record) or a Summary (5) holding Values with a tag (1) and a
// simple_value (2, float) or an Image (4: height 1, width 2, colorspace 3, encoded_image_string 4).
// Every record is flushed as written, so a killed run leaves a readable file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace yolocpp::util {

uint32_t crc32c(std::string_view data);
uint32_t masked_crc32c(std::string_view data);

class EventWriter {
 public:
  // Creates `dir`/events.out.tfevents.<unix time>.<host>.<pid>.0 and writes the file_version record.
  // Throws IoError naming the file when it cannot be created.
  explicit EventWriter(const std::filesystem::path& dir);
  void scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // An encoded PNG or JPEG image (TensorBoard decodes it); height/width are the image's pixels.
  void image(int64_t step, const std::string& tag, std::string_view encoded, int height, int width, int channels = 3);
  const std::filesystem::path& path() const { return path_; }

 private:
  void record(const std::string& event);
  std::filesystem::path path_;
  std::ofstream out_;
};

// The TFRecord payloads of an event file, CRC-checked (tests and `yolocpp` itself never need more). Throws
// IoError naming the file at the first damaged record.
std::vector<std::string> read_event_records(const std::filesystem::path& file);

}  // namespace yolocpp::util
