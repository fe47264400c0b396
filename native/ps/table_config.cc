#include "ps/table_config.h"

#include <cmath>
#include <string>

#include "common/error.h"

namespace shoal::ps {

uint32_t stateFloatsPerKey(const TableConfig& config) {
  switch (config.updater.kind) {
    case UpdaterKind::kAdagrad: return config.dim;
    case UpdaterKind::kFtrl: return 2 * config.dim;
    case UpdaterKind::kVector: return 2 * config.updater.vectorSlots - config.dim;
    default: return 0;
  }
}

uint32_t pushFloatsPerKey(const TableConfig& config) {
  return config.updater.kind == UpdaterKind::kFtrl ? 2 * config.dim : config.dim;
}

uint32_t rowFloatsPerKey(const TableConfig& config) {
  const uint32_t values = config.updater.kind == UpdaterKind::kFtrl ? 0 : config.dim;
  return values + stateFloatsPerKey(config);
}

const char* updaterKindName(UpdaterKind kind) {
  switch (kind) {
    case UpdaterKind::kAssign: return "assign";
    case UpdaterKind::kAdd: return "add";
    case UpdaterKind::kSgd: return "sgd";
    case UpdaterKind::kAdagrad: return "adagrad";
    case UpdaterKind::kFtrl: return "ftrl";
    case UpdaterKind::kVector: return "vector";
  }
  return "?";
}

const char* initKindName(InitKind kind) {
  switch (kind) {
    case InitKind::kZeros: return "zeros";
    case InitKind::kNormal: return "normal";
    case InitKind::kUniform: return "uniform";
  }
  return "?";
}

namespace {

[[noreturn]] void invalid(const std::string& field, const std::string& expected, double got) {
  throw Error(ErrorCode::kInvalidArgument, "table config: '" + field + "' must be " + expected + " (got " + std::to_string(got) + ")");
}

void requireFinite(const char* field, float v) {
  if (!std::isfinite(v)) invalid(field, "a finite number", v);
}

void requirePositive(const char* field, float v) {
  if (!(std::isfinite(v) && v > 0)) invalid(field, "a finite number > 0", v);
}

void requireNonNegative(const char* field, float v) {
  if (!(std::isfinite(v) && v >= 0)) invalid(field, "a finite number >= 0", v);
}

}  // namespace

void validate(const TableConfig& config) {
  if (config.dim < 1 || config.dim > kMaxDim) invalid("dim", "an integer in [1, " + std::to_string(kMaxDim) + "]", config.dim);

  const InitConfig& init = config.init;
  switch (init.kind) {
    case InitKind::kZeros: break;
    case InitKind::kNormal:
      requireFinite("init.mean", init.mean);
      requireNonNegative("init.std", init.std);
      break;
    case InitKind::kUniform:
      requireFinite("init.low", init.low);
      requireFinite("init.high", init.high);
      if (!(init.low <= init.high)) invalid("init.low", "<= init.high (" + std::to_string(init.high) + ")", init.low);
      break;
    default: invalid("init.kind", "0 (zeros), 1 (normal) or 2 (uniform)", static_cast<int>(init.kind));
  }

  const UpdaterConfig& up = config.updater;
  switch (up.kind) {
    case UpdaterKind::kAssign:
    case UpdaterKind::kAdd: break;
    case UpdaterKind::kSgd: requirePositive("updater.lr", up.lr); break;
    case UpdaterKind::kAdagrad:
      requirePositive("updater.lr", up.lr);
      requirePositive("updater.eps", up.eps);
      break;
    case UpdaterKind::kFtrl:
      requirePositive("updater.alpha", up.alpha);
      requireNonNegative("updater.beta", up.beta);
      requireNonNegative("updater.l1", up.l1);
      requireNonNegative("updater.l2", up.l2);
      // w's denominator is (beta + sqrt(n)) / alpha + l2, zero while n = 0 if beta = l2 = 0.
      if (up.beta == 0 && up.l2 == 0) invalid("updater.beta", "> 0 when updater.l2 is 0 (w would divide by zero)", up.beta);
      break;
    case UpdaterKind::kVector:
      if (up.vectorSlots < 2 || up.vectorSlots > kMaxVectorSlots) invalid("updater.slots", "an integer in [2, " + std::to_string(kMaxVectorSlots) + "]", up.vectorSlots);
      // k float64s pulled from slots 0..k-1 and pushed into k..2k-1 (2 floats each).
      if (config.dim % 2 != 0 || config.dim > up.vectorSlots) {
        invalid("dim", "2k for a vector table (k float64s per pull and push, 2k <= slots = " + std::to_string(up.vectorSlots) + ")", config.dim);
      }
      if (init.kind != InitKind::kZeros) invalid("init.kind", "zeros for a vector table", static_cast<int>(init.kind));
      break;
    default: invalid("updater.kind", "0 (assign) .. 4 (ftrl) or 6 (vector)", static_cast<int>(up.kind));
  }
}

}  // namespace shoal::ps
