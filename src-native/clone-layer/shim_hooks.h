// Fault seams of the Linux shim (os_clone_linux_shim.cc), compiled in only
// with -DCOWCOPY_SHIM_HOOKS (test/engine/clone_layer_test.cc's build): they
// put a race or a failure at a chosen point of the layer's sequence, which a
// test cannot otherwise time.
#pragma once

#ifdef COWCOPY_SHIM_HOOKS
namespace cowcopy_layer {
namespace shim_hooks {

// Called by os_clonefileat before it clones (a source changing after the
// layer's walk).
extern void (*before_clone)();
// Called by the layer between the holder's mkdir and its open (someone who
// can write the parent swapping another directory in).
extern void (*after_holder_mkdir)(int parentfd, const char* name);
// Called by the layer once the tree's clone returned `err` (descriptors
// running out before the clone is walked and, maybe, removed).
extern void (*after_clone)(int err);
// Called by os_rename_excl before it renames (a rival creating `to`).
extern void (*before_rename)(int todir, const char* to);
// The n-th regular-file clone from now (1 = the next) fails with `fail_errno`;
// 0: none.
extern int fail_file_clone_at;
extern int fail_errno;

}  // namespace shim_hooks
}  // namespace cowcopy_layer
#endif
