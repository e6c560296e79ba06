#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace yolocpp::util {

// Incremental SHA-256 (OpenSSL EVP underneath).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();  // finalises; call once

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolocpp::util
