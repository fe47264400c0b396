// All-to-all exchange of variable-size byte blocks (the MPI_Alltoallv pattern), used by the
// sparse collectives. Two steps, each talking to every peer at once: first every rank tells
// every other rank how many bytes it will send it (exchangeWords, one 8-byte message per
// peer), then the payloads move directly from sender to owner. Cost: 2 steps of p-1
// concurrent messages; each rank sends the bytes it holds for others and receives the
// bytes others hold for it, plus 8(p-1) bytes of counts (and 2(p-1) frame headers).
#include <cstring>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

void exchangeWords(Context& c, uint16_t step, const uint64_t* words, uint64_t* got) {
  const int p = c.size();
  const int r = c.rank();
  got[r] = words[r];
  std::vector<Xfer> xs;
  xs.reserve(2 * static_cast<size_t>(p));
  for (int j = 0; j < p; ++j) {
    if (j == r) continue;
    xs.push_back(Xfer::send(j, step, &words[j], sizeof(uint64_t)));
    xs.push_back(Xfer::recv(j, step, &got[j], sizeof(uint64_t)));
  }
  if (!xs.empty()) c.run(xs.data(), xs.size());
}

void allToAllv(Context& c, uint16_t firstStep, const uint8_t* send, const std::vector<size_t>& sendBytes,
               std::vector<uint8_t>& recv, std::vector<size_t>& recvBytes) {
  const auto p = static_cast<size_t>(c.size());
  const auto r = static_cast<size_t>(c.rank());
  std::vector<uint64_t> out(sendBytes.begin(), sendBytes.end());
  std::vector<uint64_t> in(p, 0);
  exchangeWords(c, firstStep, out.data(), in.data());
  recvBytes.assign(in.begin(), in.end());
  std::vector<size_t> sendOff(p, 0), recvOff(p, 0);
  for (size_t j = 1; j < p; ++j) {
    sendOff[j] = sendOff[j - 1] + sendBytes[j - 1];
    recvOff[j] = recvOff[j - 1] + recvBytes[j - 1];
  }
  recv.resize(recvOff[p - 1] + recvBytes[p - 1]);
  if (recvBytes[r]) std::memcpy(recv.data() + recvOff[r], send + sendOff[r], recvBytes[r]);
  std::vector<Xfer> xs;
  xs.reserve(2 * p);
  const auto step = static_cast<uint16_t>(firstStep + 1);
  for (size_t j = 0; j < p; ++j) {
    if (j == r) continue;
    xs.push_back(Xfer::send(static_cast<int>(j), step, send + sendOff[j], sendBytes[j]));
    xs.push_back(Xfer::recv(static_cast<int>(j), step, recv.data() + recvOff[j], recvBytes[j]));
  }
  if (!xs.empty()) c.run(xs.data(), xs.size());
}

}  // namespace collectives
}  // namespace shoal
