// Image size without decoding the pixels: dataset scans open hundreds of files, and the JPEG/PNG/BMP
// headers already hold what verification needs. Other formats fall back to a full OpenCV decode.
#pragma once
#include <filesystem>
#include <string>

namespace yolocpp::data {

struct ImageHeader {
  int width = 0;             // EXIF-corrected (orientation 6 and 8 swap w/h, as Ultralytics' exif_size)
  int height = 0;
  std::string format;        // "jpeg", "png", "bmp", or the file extension for decoded formats
  int orientation = 1;       // EXIF orientation tag, 1 when absent
  bool jpeg_no_eoi = false;  // JPEG that does not end with FF D9 (truncated / "corrupt JPEG")
};

// Throws DataError naming the file and the reason when the file is unreadable or not a valid image.
ImageHeader read_image_header(const std::filesystem::path& p);

}  // namespace yolocpp::data
