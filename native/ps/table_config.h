// The shape of one parameter-server table: row width, how rows start, and how pushes
// change them. Plain data shared by the shard store, the updaters and the binding; the
// numeric enum values are the ones the TS config is lowered to.
#pragma once

#include <cstdint>  // for uint8_t, uint32_t, uint64_t

namespace shoal::ps {

// kVector (6; 5 is the wire's custom updater): a row of `vectorSlots` float64 slots for
// solvers that keep their vectors on the servers (ps/vector_program.h). dim is 2k (k >= 1,
// 2k <= vectorSlots): a pull returns slots 0..k-1 and a push adds k float64s into slots
// k..2k-1, each float64 as two floats' bytes. k = 1: pull the point (slot 0), push the
// gradient (slot 1); k = 2 (BCD): pull w and the step, push gradient and Hessian diagonal.
enum class UpdaterKind : uint8_t { kAssign = 0, kAdd = 1, kSgd = 2, kAdagrad = 3, kFtrl = 4, kVector = 6 };

// Fields an updater does not use are ignored (sgd reads lr; adagrad lr and eps; ftrl alpha,
// beta, l1 and l2).
struct UpdaterConfig {
  UpdaterKind kind = UpdaterKind::kAdd;
  float lr = 0.01f, eps = 1e-8f, alpha = 0.05f, beta = 1.0f, l1 = 0.0f, l2 = 0.0f;
  uint32_t vectorSlots = 0;  // kVector only: float64 slots per key (2..kMaxVectorSlots)
};

enum class InitKind : uint8_t { kZeros = 0, kNormal = 1, kUniform = 2 };

// normal reads mean and std; uniform reads low and high. The seed, the key and the column
// alone decide a row's initial value (see row_init.h).
struct InitConfig {
  InitKind kind = InitKind::kZeros;
  float mean = 0, std = 0.01f, low = -0.01f, high = 0.01f;
  uint64_t seed = 0;
};

struct TableConfig {
  uint32_t dim = 1;
  InitConfig init;
  UpdaterConfig updater;
};

inline constexpr uint32_t kMaxVectorSlots = 255;

// Widest row we accept: keeps rowFloats * 4 bytes and batch sizes far from overflow.
inline constexpr uint32_t kMaxDim = 1u << 20;

// Optimizer state stored after the row's values: adagrad keeps dim accumulators, ftrl keeps
// z and n (2*dim) and no values at all; the others keep nothing.
uint32_t stateFloatsPerKey(const TableConfig& config);

// Floats a worker pushes per key: ftrl pushes (delta z, delta n), the others one gradient
// or value per column.
uint32_t pushFloatsPerKey(const TableConfig& config);

// Floats stored per key: dim values (none for ftrl, whose w is computed at pull time) plus
// the state.
uint32_t rowFloatsPerKey(const TableConfig& config);

// Throws shoal::Error(kInvalidArgument) naming the offending field, e.g. "updater.lr".
void validate(const TableConfig& config);

const char* updaterKindName(UpdaterKind kind);
const char* initKindName(InitKind kind);

}  // namespace shoal::ps
