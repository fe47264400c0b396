// Vector programs: the arithmetic of a solver whose vectors live on the parameter servers,
// run shard-wise where the rows are. A vector table (UpdaterKind::kVector) keeps, per key,
// `slots` float64 values: slot 0 is the point workers pull, slot 1 sums the gradients they
// push, the others are the solver's (iterate, direction, L-BFGS pairs s_i, y_i, ...). A
// program is a short list of instructions applied in order to every row this server holds;
// reductions (dot, |.|_1, count) add up only the rows this server is the primary of, and
// return one partial sum per reduction. The driver adds the servers' partial sums, so only
// scalars cross the network; a vector of any length costs O(rows on this server) per
// instruction here and 8 bytes per reduction on the wire.
//
// Keys exist only where a worker pulled or pushed them: a key no row has takes no memory.
// Mutations apply to every copy (primary and replicas) the same way, so replicas stay equal
// to their primary and a failover keeps the vectors.
//
// Every element operation matches the dense solver's loop body bit for bit (no contraction:
// fp-contract is off in the .cc); only the reductions' summation order differs (per server).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "ps/shard_store.h"

namespace shoal::ps {

enum class VectorOp : uint8_t {
  kLincomb = 0,     // c = alpha*a + beta*b   (b = kNoSlot: c = alpha*a)
  kDot = 1,         // result += sum a*b
  kAbsSum = 2,      // result += sum |a|
  kPseudoGrad = 3,  // c = OWL-QN pseudo-gradient of x = a, g = b, l1 = alpha
  kMaskSameSign = 4,// c_j = 0 where c_j * a_j >= 0   (OWL-QN: drop d_j that agree with pg_j)
  kProject = 5,     // c = a + alpha*b; if beta != 0, c_j = 0 where sign(c_j) != orthant
                    //   (orthant = sign(a_j), or sign(-d_j) where a_j = 0; d = the pg slot)
  kDotDiff = 6,     // result += sum a*(b - c)
  kCountNonZero = 7,// result += number of a_j != 0
  kCountRows = 8,   // result += number of rows (keys)
  kNewtonStep = 9,  // c = argmin_z a*z + (b + beta)*z^2/2 + alpha*|d + z|, 0 where b + beta <= 1e-12
                    //   (coordinate descent's soft-thresholded Newton step: a = gradient, b = Hessian
                    //   diagonal, d = the weight, alpha = l1, beta = l2)
  kDivide = 10,     // c = a / b                (TRON's preconditioned residual z = r / m)
  kAffine = 11,     // c = alpha*a + beta       (beta a constant: the preconditioner's 1 - a)
  kDot3 = 12,       // result += sum a*b*c      (M-weighted dot products, M a slot)
};
inline constexpr uint8_t kNumVectorOps = 13;
inline constexpr uint8_t kNoSlot = 255;

#pragma pack(push, 1)
struct VectorInstr {
  uint8_t op;
  uint8_t a, b, c, d;
  uint8_t reserved[3];
  double alpha, beta;
};
#pragma pack(pop)
static_assert(sizeof(VectorInstr) == 24, "VectorInstr is 24 bytes on the wire");

inline constexpr size_t kMaxVectorInstrs = 1024;

// Checks every instruction (op, slots < the table's slots) before touching a row, then runs
// them, in one pass over the rows. Returns one partial sum per reduction, in program order.
// `primary(key)` says whether this server counts the key in reductions (empty: every row does). Throws shoal::Error(kInvalidArgument) naming the
// instruction and the slot.
std::vector<double> runVectorProgram(ShardStore& store, const VectorInstr* program, size_t n,
                                     const std::function<bool(uint64_t)>& primary);

}  // namespace shoal::ps
