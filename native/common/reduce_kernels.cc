#include "common/reduce_kernels.h"

#include <cmath>

namespace shoal {

void reduce(DType dtype, ReduceOp op, void* dst, const void* a, const void* b, size_t count) {
  switch (dtype) {
    case DType::kFloat32:
      kernels::reduceTyped(op, static_cast<float*>(dst), static_cast<const float*>(a), static_cast<const float*>(b), count);
      break;
    case DType::kFloat64:
      kernels::reduceTyped(op, static_cast<double*>(dst), static_cast<const double*>(a), static_cast<const double*>(b), count);
      break;
    case DType::kInt32:
      kernels::reduceTyped(op, static_cast<int32_t*>(dst), static_cast<const int32_t*>(a), static_cast<const int32_t*>(b), count);
      break;
    case DType::kInt64:
      kernels::reduceTyped(op, static_cast<int64_t*>(dst), static_cast<const int64_t*>(a), static_cast<const int64_t*>(b), count);
      break;
    case DType::kUint8:
      kernels::reduceTyped(op, static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), count);
      break;
  }
}

}  // namespace shoal
