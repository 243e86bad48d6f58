# A stand-in for coreutils' tests/init.sh (gnulib) and init.cfg, enough for
# the vendored tests/cp scripts to run against the cowcopy command: it
# defines the helpers they call, with the behaviour of the originals, and
# makes a fresh working directory per script. Several functions below are
# adapted from coreutils' init.cfg:
#
# Copyright (C) 2009-2026 Free Software Foundation, Inc.
#
# This program is free software: you can redistribute it and/or modify
# it under the terms of the GNU General Public License as published by
# the Free Software Foundation, either version 3 of the License, or
# (at your option) any later version.
#
# This program is distributed in the hope that it will be useful,
# but WITHOUT ANY WARRANTY; without even the implied warranty of
# MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
# GNU General Public License for more details.
#
# You should have received a copy of the GNU General Public License
# along with this program.  If not, see <https://www.gnu.org/licenses/>.
#
# Environment (set by test/coreutils-cp.test.mjs): COWCOPY_CP_BIN, the
# directory holding the `cp` wrapper; COWCOPY_TEST_TMP, where the working
# directories go; CONFIG_HEADER, a config.h naming what this "build" has.

ME_=${0##*/}
abs_path_dir_=$COWCOPY_CP_BIN
abs_srcdir=$(cd "$srcdir" && pwd)
abs_top_srcdir=$abs_srcdir
abs_top_builddir=$abs_srcdir
: "${CONFIG_HEADER=$abs_srcdir/config.h}"
: "${AWK=awk}"
: "${PERL=perl}"
: "${CC=cc}"
EXEEXT=
built_programs='cp'
ENOTSUP='Operation not supported'
EACCES='Permission denied'
EINVAL='Invalid argument'

Exit () { set +e; (exit $1); exit $1; }
warn_ () { printf '%s\n' "$*" >&2; }
fail_ () { warn_ "$ME_: failed test: $@"; Exit 1; }
skip_ () { warn_ "$ME_: skipped test: $@"; Exit 77; }
fatal_ () { warn_ "$ME_: hard error: $@"; Exit 99; }
framework_failure_ () { warn_ "$ME_: set-up failure: $@"; Exit 99; }

# returns_ CODE CMD...: true when CMD exits with CODE (set -x is quietened).
returns_ ()
{
  { local exp_exit="$1"; shift; } 2>/dev/null
  "$@"
  test $? -eq $exp_exit && ret_=0 || ret_=1
  { return $ret_; } 2>/dev/null
}

compare ()
{
  if test "x$1" = x/dev/null || test "x$2" = x/dev/null; then
    local f=$1; test "x$f" = x/dev/null && f=$2
    test -s "$f" || return 0
    { echo "diff -u $1 $2"; echo "+++ $f"; sed 's/^/+/' -- "$f"; } >&2
    return 1
  fi
  diff -u "$@" >&2
}
compare_ () { compare "$@"; }

# The programs under test: the cp wrapper comes first on PATH, whatever
# directory the script names (./src in coreutils' tree).
path_prepend_ () { PATH=$COWCOPY_CP_BIN:$PATH; export PATH; }
# cp is cowcopy; the other programs a script names (mv, ln, dd, printf ...)
# are the system's coreutils.
require_built_ ()
{
  for i in "$@"; do
    command -v "$i" >/dev/null || skip_ "required program $i not found"
  done
}
print_ver_ () { require_built_ "$@"; }

cleanup_ () { :; }
bad_unicode () { env printf '\xFF|\xED\xBA\xAD|\u0089|\xED\xA6\xBF\xED\xBF\xBF\n'; }
expensive_ () { test "$RUN_EXPENSIVE_TESTS" = yes || skip_ 'expensive: disabled by default'; }
very_expensive_ () { test "$RUN_VERY_EXPENSIVE_TESTS" = yes || skip_ 'very expensive: disabled by default'; }

uid_is_privileged_ () { test "$(id -u)" = 0; }
require_root_ ()
{
  uid_is_privileged_ || skip_ "must be run as root"
  NON_ROOT_USERNAME=${NON_ROOT_USERNAME=nobody}
  NON_ROOT_GID=${NON_ROOT_GID=$(id -g $NON_ROOT_USERNAME)}
}
skip_if_root_ () { uid_is_privileged_ && skip_ "must be run as non-root"; }
require_perl_ () { $PERL -e 'use warnings' >/dev/null 2>&1 || skip_ 'no usable Perl'; }
require_selinux_ () { skip_ 'SELinux is not tested here'; }
mls_enabled_ () { return 1; }
require_smack_ () { skip_ 'SMACK is not tested here'; }
require_valgrind_ () { skip_ 'valgrind is not used here'; }
require_gcc_shared_ () { skip_ 'LD_PRELOAD shims do not reach Node syscalls here'; }
require_strace_ () { skip_ 'strace is not used here'; }
require_local_dir_ () { df --local . >/dev/null 2>&1 || skip_ "This test must be run on a local file system."; }
require_acl_ ()
{
  getfacl --version </dev/null >/dev/null 2>&1 \
    && setfacl --version </dev/null >/dev/null 2>&1 \
    || skip_ "This test requires getfacl and setfacl."
  id -u bin >/dev/null 2>&1 || skip_ "This test requires a local user named bin."
}
require_no_default_acl_ ()
{
  if getfacl --version </dev/null >/dev/null 2>&1; then
    getfacl "$1" | grep '^default:' && skip_ 'Default ACL detected'
  else
    ls -ld "$1" | grep '.........+' && skip_ 'ACL detected'
  fi
}
require_file_system_bytes_free_ ()
{
  local expr=$(stat -f --printf "$1 / %S <= %a" .)
  $AWK "BEGIN{ exit !($expr) }" || skip_ "this test needs at least $1 bytes of free space"
}
require_sparse_support_ ()
{
  t=sparse.$$
  dd bs=1 seek=128K of=$t </dev/null 2>/dev/null
  set x $(du -sk $t)
  rm -f $t
  test $2 -ge 128 && skip_ 'this file system does not support sparse files'
}
# coreutils asks `cp --debug` whether SEEK_HOLE is used; cowcopy has no
# --debug, and walks holes with SEEK_DATA/SEEK_HOLE wherever the kernel can.
seek_data_capable_ () { return 1; }
require_membership_in_two_groups_ ()
{
  groups=
  for g in $(id -G); do
    case $g in 1|32767|65534|65535) ;; *) groups="$groups${groups:+ }$g";; esac
  done
  case $groups in *' '*) ;; *) skip_ 'requires membership in two groups';; esac
}
mkfifo_or_skip_ () { mkfifo "$1" || skip_ 'unable to create a fifo'; }
working_umask_or_skip_ ()
{
  umask 022
  touch file1 file2; chmod 644 file2
  perms=$(ls -l file1 file2 | sed 's/ .*//' | uniq)
  rm -f file1 file2
  case $perms in *'
'*) skip_ 'your build directory has unusual umask semantics';; esac
}
skip_if_setgid_ ()
{
  (umask 77; mkdir setgid-$$)
  perms=$(stat --printf %A setgid-$$); rmdir setgid-$$
  case $perms in drwx------|drwxr-xr-x) ;; *) skip_ 'this directory has the setgid bit set';; esac
}
skip_if_nondefault_group_ ()
{
  touch grp.$$; gen_ug=$(stat -c '%u:%g' grp.$$); rm grp.$$
  test "$gen_ug" = "$(id -ru):$(id -rg)" || skip_ 'Files are created with a different gid'
}
getlimits_ () { skip_ 'getlimits is a coreutils build helper, not here'; }
get_min_ulimit_v_ () { echo 0; }
copy_timestamp_ () { touch -m -r "$1" "$2" 2>/dev/null; }
retry_delay_ ()
{
  local f=$1 d=$2 n=$3 i=1; shift 3
  while test $i -le $n; do
    "$f" "$d" "$@" && return 0
    d=$($AWK -v d="$d" 'BEGIN { print d * 2 }'); i=$((i + 1))
  done
  return 1
}

# A fresh working directory, removed at exit unless COWCOPY_KEEP is set.
test_dir_=$(mktemp -d "${COWCOPY_TEST_TMP:-${TMPDIR:-/tmp}}/cu-${ME_%.sh}.XXXXXX") || fatal_ 'cannot make a working directory'
cd "$test_dir_" || fatal_ "cannot cd to $test_dir_"
trap 'st=$?; cleanup_; cd /; test -n "$COWCOPY_KEEP" || { chmod -R u+rwx "$test_dir_" 2>/dev/null; rm -rf "$test_dir_"; }; exit $st' 0
trap 'Exit 129' 1; trap 'Exit 130' 2; trap 'Exit 141' 13; trap 'Exit 143' 15
fail=0
