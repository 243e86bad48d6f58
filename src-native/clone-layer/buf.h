// The clone layer's one dynamic type: a malloc'd, growable, NUL-terminated
// byte string (paths, directory listings, messages). The layer links no C++
// runtime (no libc++ in the macOS prebuilds), so nothing here throws or uses
// operator new: a failed allocation is a `false` the caller turns into ENOMEM.
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

namespace cowcopy_layer {

class Buf {
 public:
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  Buf(Buf&& o) noexcept : p_(o.p_), len_(o.len_), cap_(o.cap_) { o.forget(); }
  Buf& operator=(Buf&& o) noexcept {
    if (this != &o) {
      ::free(p_);
      p_ = o.p_;
      len_ = o.len_;
      cap_ = o.cap_;
      o.forget();
    }
    return *this;
  }
  ~Buf() { ::free(p_); }

  // Appends `n` bytes (which may hold NULs: a listing's separators). False,
  // and the contents unchanged, when memory runs out.
  bool append(const char* s, size_t n) {
    char* at = grow(n);
    if (!at) return false;
    if (n) ::memcpy(at, s, n);
    return true;
  }
  bool append(const char* s) { return append(s, ::strlen(s)); }

  // Makes room for `n` more bytes at the end, still NUL-terminated, and
  // returns where they start for the caller to fill (zeroed); null when
  // memory runs out (then nothing changed).
  char* grow(size_t n) {
    if (n > SIZE_MAX - 1 - len_) return nullptr;
    if (len_ + n + 1 > cap_) {
      size_t cap = cap_ ? cap_ : 64;
      while (cap < len_ + n + 1) cap = cap > SIZE_MAX / 2 ? len_ + n + 1 : cap * 2;
      char* p = static_cast<char*>(::realloc(p_, cap));
      if (!p) return nullptr;
      p_ = p;
      cap_ = cap;
    }
    char* at = p_ + len_;
    ::memset(at, 0, n + 1);
    len_ += n;
    return at;
  }

  // Back to the first `n` bytes (a walk leaving a directory).
  void truncate(size_t n) {
    if (n < len_) {
      len_ = n;
      p_[n] = 0;
    }
  }
  void clear() { truncate(0); }

  const char* c_str() const { return p_ ? p_ : ""; }
  const char* data() const { return c_str(); }
  size_t size() const { return len_; }
  bool empty() const { return len_ == 0; }

  // The malloc'd bytes (NUL-terminated; null when empty), now the caller's to free().
  char* release() {
    char* p = len_ ? p_ : nullptr;
    if (!p) ::free(p_);
    forget();
    return p;
  }

 private:
  void forget() {
    p_ = nullptr;
    len_ = cap_ = 0;
  }
  char* p_ = nullptr;
  size_t len_ = 0;
  size_t cap_ = 0;
};

}  // namespace cowcopy_layer
