/* What the vendored coreutils tests ask of "the build" (grep'd by them):
   the features cowcopy's command has on Linux. HAVE_CAP is not set:
   file capabilities are a security.* xattr, copied only with -p/--preserve=xattr. */
#define USE_ACL 1
#define USE_XATTR 1
#define HAVE_UTIMENSAT 1
#define HAVE_LUTIMES 1
#define HAVE_LINKAT 1
#undef LINKAT_SYMLINK_NOTSUP
#define LINK_FOLLOWS_SYMLINKS 0
