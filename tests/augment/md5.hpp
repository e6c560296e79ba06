// md5 of raw pixel bytes via OpenSSL EVP (the fixtures store md5 of the HWC uint8 BGR array).
#pragma once
#include <openssl/evp.h>

#include <cstdio>
#include <string>

#include <opencv2/core.hpp>

namespace yolocpp::test {

inline std::string md5_hex(const void* data, size_t n) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, n, out, &len, EVP_md5(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", out[i]);
    hex += buf;
  }
  return hex;
}

inline std::string md5_mat(const cv::Mat& m) {
  cv::Mat c = m.isContinuous() ? m : m.clone();
  return md5_hex(c.data, c.total() * c.elemSize());
}

}  // namespace yolocpp::test
