// See vector_program.h. The element operations are the dense solvers' loop bodies
// (algorithms/lbfgs_lr); no FMA contraction, so each element gets the same bits.
#pragma GCC optimize("fp-contract=off")

#include "ps/vector_program.h"

#include <cmath>
#include <cstring>
#include <string>

#include "common/error.h"

namespace shoal::ps {

namespace {

double sign(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }

bool isReduction(uint8_t op) {
  const auto o = static_cast<VectorOp>(op);
  return o == VectorOp::kDot || o == VectorOp::kAbsSum || o == VectorOp::kDotDiff || o == VectorOp::kCountNonZero || o == VectorOp::kCountRows ||
         o == VectorOp::kDot3;
}

void check(const VectorInstr& in, size_t index, uint32_t slots) {
  const std::string where = "vector program instruction " + std::to_string(index);
  if (in.op >= kNumVectorOps) throw Error(ErrorCode::kInvalidArgument, where + ": unknown op " + std::to_string(in.op));
  const auto o = static_cast<VectorOp>(in.op);
  // Which slots each op reads or writes; b may be kNoSlot for kLincomb only.
  const bool usesB = o != VectorOp::kAbsSum && o != VectorOp::kCountNonZero && o != VectorOp::kMaskSameSign && o != VectorOp::kCountRows &&
                     o != VectorOp::kAffine;
  const bool usesC = o == VectorOp::kLincomb || o == VectorOp::kPseudoGrad || o == VectorOp::kMaskSameSign || o == VectorOp::kProject ||
                     o == VectorOp::kDotDiff || o == VectorOp::kNewtonStep || o == VectorOp::kDivide || o == VectorOp::kAffine || o == VectorOp::kDot3;
  const bool usesD = o == VectorOp::kProject || o == VectorOp::kNewtonStep;
  const auto need = [&](const char* name, uint8_t slot, bool optional) {
    if (optional && slot == kNoSlot) return;
    if (slot >= slots) {
      throw Error(ErrorCode::kInvalidArgument, where + ": slot " + name + " = " + std::to_string(slot) + " is out of range (the table has " +
                                                   std::to_string(slots) + " slots)");
    }
  };
  need("a", in.a, false);
  if (usesB) need("b", in.b, o == VectorOp::kLincomb);
  if (usesC) need("c", in.c, false);
  if (usesD) need("d", in.d, false);
  if (!std::isfinite(in.alpha) || !std::isfinite(in.beta)) throw Error(ErrorCode::kInvalidArgument, where + ": alpha and beta must be finite");
  if (o == VectorOp::kNewtonStep && (in.alpha < 0 || in.beta < 0)) throw Error(ErrorCode::kInvalidArgument, where + ": newton step needs l1 (alpha) and l2 (beta) >= 0");
}

// Rows are float arrays (ShardStore); slots are read and written through memcpy, since an
// interleaved row is only 4-byte aligned.
inline double get(const float* row, uint8_t slot) {
  double v;
  std::memcpy(&v, row + 2 * slot, sizeof(v));
  return v;
}
inline void put(float* row, uint8_t slot, double v) { std::memcpy(row + 2 * slot, &v, sizeof(v)); }

}  // namespace

std::vector<double> runVectorProgram(ShardStore& store, const VectorInstr* program, size_t n,
                                     const std::function<bool(uint64_t)>& primary) {
  if (store.config().updater.kind != UpdaterKind::kVector) throw Error(ErrorCode::kInvalidArgument, "vector program on a table that is not a vector table");
  if (n == 0 || n > kMaxVectorInstrs) {
    throw Error(ErrorCode::kInvalidArgument, "vector program of " + std::to_string(n) + " instructions (1.." + std::to_string(kMaxVectorInstrs) + " allowed)");
  }
  const uint32_t slots = store.config().updater.vectorSlots;
  for (size_t i = 0; i < n; ++i) check(program[i], i, slots);
  // Rows outer, instructions inner: every instruction reads and writes only its own row's
  // slots, so this is the same as running them one after the other, in one pass over memory.
  std::vector<double> acc(n, 0.0);
  store.forEachMutable([&](uint64_t key, float* row) {
    const bool counts = !primary || primary(key);
    for (size_t i = 0; i < n; ++i) {
      const VectorInstr& in = program[i];
      switch (static_cast<VectorOp>(in.op)) {
        case VectorOp::kLincomb:
          put(row, in.c, in.b == kNoSlot ? in.alpha * get(row, in.a) : in.alpha * get(row, in.a) + in.beta * get(row, in.b));
          break;
        case VectorOp::kPseudoGrad: {
          const double x = get(row, in.a), g = get(row, in.b), l1 = in.alpha;
          double pg;
          if (x > 0) pg = g + l1;
          else if (x < 0) pg = g - l1;
          else if (g + l1 < 0) pg = g + l1;
          else if (g - l1 > 0) pg = g - l1;
          else pg = 0;
          put(row, in.c, pg);
          break;
        }
        case VectorOp::kMaskSameSign:
          if (get(row, in.c) * get(row, in.a) >= 0) put(row, in.c, 0.0);
          break;
        case VectorOp::kProject: {
          const double x = get(row, in.a);
          double v = x + in.alpha * get(row, in.b);
          if (in.beta != 0) {
            const double orthant = x != 0 ? sign(x) : sign(-get(row, in.d));
            if (sign(v) != orthant) v = 0;
          }
          put(row, in.c, v);
          break;
        }
        case VectorOp::kNewtonStep: {
          // The dense BCD's per-coordinate step (algorithms/bcd/index.ts, diagonalStep).
          const double g = get(row, in.a), h = get(row, in.b) + in.beta, w = get(row, in.d), l1 = in.alpha;
          double z = 0;
          if (h > 1e-12) {
            if (g + l1 <= h * w) z = -(g + l1) / h;
            else if (g - l1 >= h * w) z = -(g - l1) / h;
            else z = -w;
          }
          put(row, in.c, z);
          break;
        }
        case VectorOp::kDot:
          if (counts) acc[i] += get(row, in.a) * get(row, in.b);
          break;
        case VectorOp::kAbsSum:
          if (counts) acc[i] += std::fabs(get(row, in.a));
          break;
        case VectorOp::kDotDiff:
          if (counts) acc[i] += get(row, in.a) * (get(row, in.b) - get(row, in.c));
          break;
        case VectorOp::kCountNonZero:
          if (counts && get(row, in.a) != 0) acc[i] += 1;
          break;
        case VectorOp::kCountRows:
          if (counts) acc[i] += 1;
          break;
        case VectorOp::kDivide:
          put(row, in.c, get(row, in.a) / get(row, in.b));
          break;
        case VectorOp::kAffine:
          put(row, in.c, in.alpha * get(row, in.a) + in.beta);
          break;
        case VectorOp::kDot3:
          if (counts) acc[i] += get(row, in.a) * get(row, in.b) * get(row, in.c);
          break;
      }
    }
  });
  std::vector<double> results;
  for (size_t i = 0; i < n; ++i) {
    if (isReduction(program[i].op)) results.push_back(acc[i]);
  }
  return results;
}

}  // namespace shoal::ps
