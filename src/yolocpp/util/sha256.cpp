#include "yolocpp/util/sha256.hpp"

#include <openssl/evp.h>

#include <cstdio>

namespace yolocpp::util {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) { EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr); }
Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t n) { EVP_DigestUpdate(impl_->ctx, data, n); }

std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) std::snprintf(&out[i * 2], 3, "%02x", md[i]);
  return out;
}

}  // namespace yolocpp::util
