#include "ps/updaters/updater.h"

#include "ps/updaters/adagrad.h"
#include "ps/updaters/add.h"
#include "ps/updaters/assign.h"
#include "ps/updaters/ftrl.h"
#include "ps/updaters/sgd.h"
#include "ps/updaters/vector_add.h"

namespace shoal::ps {

ApplyFn applyFnFor(UpdaterKind kind) {
  switch (kind) {
    case UpdaterKind::kAssign: return &applyAssign;
    case UpdaterKind::kAdd: return &applyAdd;
    case UpdaterKind::kSgd: return &applySgd;
    case UpdaterKind::kAdagrad: return &applyAdagrad;
    case UpdaterKind::kFtrl: return &applyFtrl;
    case UpdaterKind::kVector: return &applyVectorAdd;
  }
  return nullptr;
}

}  // namespace shoal::ps
