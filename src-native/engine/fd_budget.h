// How many directories a walker may hold open ahead of its copy threads,
// from the descriptors the process has left (import.cc, tree.cc).
#ifndef COWCOPY_ENGINE_FD_BUDGET_H_
#define COWCOPY_ENGINE_FD_BUDGET_H_

#include <cstddef>

namespace cowcopy {

// Descriptors this process has open now, or -1 when that cannot be told.
long open_descriptors();

// A quarter of the descriptors left under RLIMIT_NOFILE once those open
// now and the copy threads' own (4 each) are set aside; at most 4 096.
size_t dirs_ahead_budget(int copy_threads);

}  // namespace cowcopy

#endif  // COWCOPY_ENGINE_FD_BUDGET_H_
