#include "exceptions.h"

#include <cerrno>
#include <new>
#include <system_error>

namespace cowcopy {

int current_exception_errno() noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (const std::system_error& e) {
    return e.code().value() > 0 ? e.code().value() : EIO;
  } catch (...) {
    return EIO;
  }
}

}  // namespace cowcopy
