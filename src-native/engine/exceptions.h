// The errno a C++ exception stands for, where code turns one into an error
// instead of letting it unwind further (a thread body, a binding, a walker).
#pragma once

namespace cowcopy {

// Inside a catch: the errno of the exception being handled. std::bad_alloc
// ENOMEM, std::system_error its code (when positive), anything else EIO.
int current_exception_errno() noexcept;

}  // namespace cowcopy
