// SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), used to prove the job secret on every
// connection without sending it. Small and dependency-free so the addon needs no OpenSSL.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace shoal {

using Digest = std::array<uint8_t, 32>;

// Incremental SHA-256, for data that arrives in pieces (snapshot files as they are written).
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  Digest finish();

 private:
  uint32_t h_[8];
  uint8_t block_[64];
  size_t blockBytes_ = 0;
  uint64_t totalBytes_ = 0;
};

Digest sha256(const void* data, size_t len);
Digest hmacSha256(const std::string& key, const void* data, size_t len);
// Constant-time comparison, so a forger learns nothing from timing.
bool digestEqual(const Digest& a, const Digest& b);

}  // namespace shoal
