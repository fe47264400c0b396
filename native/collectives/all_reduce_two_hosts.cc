// Hierarchical allReduce on two hosts of L ranks each, streamed: the three phases of
// all_reduce_hierarchical.cc (reduce within the host, exchange across, gather within) run as
// ONE step, so the intra-host work on a segment overlaps the inter-host transfer of the
// segments before it, instead of every phase waiting for the whole buffer.
//
// The buffer is cut into L chunks; local rank l owns chunk l. In the one step, rank (h, l):
//   - sends chunk j of its input to local rank j (j != l), and receives each local rank's
//     copy of chunk l; as a segment (Tuning::segmentBytes) has arrived from every local rank
//     it is summed into chunk l in place (host h's partial sum);
//   - streams chunk l to rank (1-h, l) as its segments are summed (Xfer::available), and
//     receives that rank's partial sum of chunk l; a segment present in both partials, and
//     already sent, is combined into the final chunk l in place;
//   - streams the final chunk l to every local rank as it is combined, and receives each
//     local rank's final chunk j into place. (The link runs two messages to one peer in
//     list order: the input chunk, then the final one.)
// A final segment of chunk j can only arrive after this rank's input segment of chunk j was
// sent (the sum needs it), so receiving results into the input buffer never overwrites
// bytes still to be sent.
//
// Cost: the bytes of the phased form (each rank sends 2(L-1)/L * n within the host, n/L to
// the other host: n out of each host), in one step whose time is about the inter-host
// transfer alone, n * beta_g + alpha_g, plus the first and last segments' intra-host work,
// against the phased form's sum of the three phases (docs/algorithms.md).
//
// Determinism: a host's partial sum is accumulated in local-rank order (r_0, r_1, ... r_L-1),
// and the final as op(host 0's partial, host 1's partial) on both hosts, then copied to the
// others: every rank ends with identical bits, run after run.
#include <algorithm>
#include <cstring>

#include "collectives/context.h"

namespace shoal {
namespace collectives {

namespace {
// Step numbers of the three streams (distinct from the phased form's step bases).
constexpr uint16_t kInputs = 0x4100;
constexpr uint16_t kPartials = 0x8100;
constexpr uint16_t kFinals = 0xC100;
}  // namespace

bool twoHostsStreamable(const Topology& t, size_t count) {
  if (t.hosts() != 2 || t.ranks[0].size() != t.ranks[1].size()) return false;
  return count >= t.ranks[0].size();  // every chunk holds at least one element
}

void allReduceTwoHosts(Context& c, void* buf, size_t count) {
  const Topology& t = *c.topology;
  const int me = c.rank();
  const int host = t.hostOf[static_cast<size_t>(me)];
  const std::vector<int>& local = t.ranks[static_cast<size_t>(host)];
  const size_t L = local.size();
  const size_t l = static_cast<size_t>(t.localIndex(me));
  const int remote = t.ranks[static_cast<size_t>(1 - host)][l];
  const size_t esz = c.elementBytes();
  std::vector<size_t> offset(L + 1, 0);  // chunk j: elements [offset[j], offset[j+1])
  for (size_t j = 0; j < L; ++j) offset[j + 1] = offset[j] + count / L + (j < count % L ? 1 : 0);
  uint8_t* data = static_cast<uint8_t*>(buf);
  auto chunkAt = [&](size_t j) { return data + offset[j] * esz; };
  auto chunkBytes = [&](size_t j) { return (offset[j + 1] - offset[j]) * esz; };
  uint8_t* mine = chunkAt(l);
  const size_t mineBytes = chunkBytes(l);
  const size_t slot = chunkBytes(0);  // the largest chunk
  // inputs + j*slot: local rank j's copy of chunk l (j == l: the running sum before ours joins).
  uint8_t* inputs = c.scratch.get(2, L * slot);
  uint8_t* theirs = c.scratch.get(3, slot);  // the other host's partial sum of chunk l
  const size_t segment = std::max(esz, c.tuning.segmentBytes / esz * esz);

  std::vector<size_t> arrived(L, mineBytes);  // bytes of chunk l received from each local rank
  size_t summed = 0;                          // host partial of chunk l ready (sent to `remote` up to here)
  size_t theirsArrived = 0;
  size_t partialSent = 0;                     // our partial has left for `remote` up to here
  size_t combined = 0;                        // final chunk l ready (sent to local ranks up to here)

  auto advance = [&]() {
    while (summed < mineBytes) {
      const size_t end = std::min(summed + segment, mineBytes);
      if (*std::min_element(arrived.begin(), arrived.end()) < end) break;
      const size_t n = (end - summed) / esz;
      // In local-rank order: the running sum lives in our unused input slot until our own
      // operand is folded in, then in place of it.
      const uint8_t* sum = (l == 0 ? mine : inputs) + summed;
      for (size_t j = 1; j < L; ++j) {
        uint8_t* into = (j >= l ? mine : inputs + l * slot) + summed;
        c.reduce(into, sum, (j == l ? mine : inputs + j * slot) + summed, n);
        sum = into;
      }
      summed = end;
    }
    // The final is written over our partial, so only where the partial was sent already.
    const size_t upto = std::min({summed, theirsArrived, partialSent}) / esz * esz;
    if (upto > combined) {
      const uint8_t* first = host == 0 ? mine : theirs;
      const uint8_t* second = host == 0 ? theirs : mine;
      c.reduce(mine + combined, first + combined, second + combined, (upto - combined) / esz);
      combined = upto;
    }
  };

  std::vector<Xfer> xs;
  xs.reserve(4 * (L - 1) + 2);
  for (size_t j = 0; j < L; ++j) {
    if (j != l) xs.push_back(Xfer::send(local[j], kInputs, chunkAt(j), chunkBytes(j)));
  }
  for (size_t j = 0; j < L; ++j) {
    if (j == l) continue;
    arrived[j] = 0;
    Xfer x = Xfer::recv(local[j], kInputs, inputs + j * slot, mineBytes);
    x.segmentBytes = segment;
    x.onSegment = [&, j](size_t off, size_t len) {
      arrived[j] = off + len;
      advance();
    };
    xs.push_back(std::move(x));
  }
  Xfer out = Xfer::send(remote, kPartials, mine, mineBytes);
  out.available = &summed;
  out.onSent = [&](size_t sent) {
    partialSent = sent;
    advance();
  };
  xs.push_back(std::move(out));
  Xfer in = Xfer::recv(remote, kPartials, theirs, mineBytes);
  in.segmentBytes = segment;
  in.onSegment = [&](size_t off, size_t len) {
    theirsArrived = off + len;
    advance();
  };
  xs.push_back(std::move(in));
  for (size_t j = 0; j < L; ++j) {
    if (j == l) continue;
    Xfer x = Xfer::send(local[j], kFinals, mine, mineBytes);
    x.available = &combined;
    xs.push_back(x);
  }
  for (size_t j = 0; j < L; ++j) {
    if (j != l) xs.push_back(Xfer::recv(local[j], kFinals, chunkAt(j), chunkBytes(j)));
  }
  c.run(xs.data(), xs.size());
}

}  // namespace collectives
}  // namespace shoal
