// Force-included into every file of the addon (binding.gyp): keeps the
// prebuilt binary's glibc floor at 2.28. libstdc++'s headers read glibc
// 2.32's __libc_single_threaded to skip atomic reference counts; this points
// them at a flag that always says "threads may be running" (always atomic:
// correct everywhere, and what older glibc gave anyway).
#pragma once
#if defined(__GLIBC__) || defined(__linux__)
#define __libc_single_threaded cowcopy_libc_single_threaded
#ifdef __cplusplus
extern "C" {
#endif
extern char cowcopy_libc_single_threaded;
#ifdef __cplusplus
}
#endif
#endif

// libstdc++ (GCC 12) versions: bind to what GCC 8's libstdc++ (RHEL 8) has.
#if defined(__cplusplus) && defined(__linux__) && !defined(__ANDROID__)
// GCC 12 re-exported condition_variable::wait at GLIBCXX_3.4.30; the same
// function has been there since GLIBCXX_3.4.11.
__asm__(".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,"
        "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
#endif
