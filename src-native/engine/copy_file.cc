// The method chain, in order: open source -> fstat -> open (or create) destination
// -> same-file check -> move data (clone, copy_file_range, sendfile,
// read/write; an existing destination is emptied only before a byte copy)
// -> mode -> close; on failure, remove the destination only if we created it.
#include "copy_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "atomic_dest.h"
#include "copy_data.h"
#include "method_chain.h"
#include "ladder.h"
#include "open_path.h"
#include "sparse.h"
#include "stat_calls.h"
#include "sys.h"
#include "unique_fd.h"

namespace cowcopy {
namespace {

const char* const kTakenWhileCopying = "the destination name was taken while copying";

CopyResult fail(int err, const char* reason = nullptr) {
  CopyResult r;
  r.err = err;
  r.reason = reason;
  return r;
}

// Opens the source without blocking: opening a FIFO for reading would wait for
// a writer forever. O_NONBLOCK then stays: it changes nothing for a file on a
// disk, and a "regular" file whose read() waits for data (/proc/kmsg) fails
// with EAGAIN instead of holding a thread that no abort can free.
int open_source(const CopyRequest& req, UniqueFd& fd, struct stat& st, const char*& reason) {
  return open_regular(req.src_dir, req.src.c_str(), O_RDONLY, req.src_rules, fd, st, reason);
}

// The destination as the data phase sees it: an open descriptor, whether we
// created it and whether it is known empty. An existing destination keeps the
// O_NONBLOCK it was opened with, for the same reason as the source.
struct Target {
  int fd = -1;
  bool created = false;
  bool empty = false;
  uint64_t size = 0;     // an existing destination's size when opened
  uint64_t blksize = 0;  // and its st_blksize
  // Created with a mode others may open, for a clone (which fills it at
  // once): a byte copy makes it private first (see prepare_for).
  bool exposed = false;
};

int truncate_to(int fd, uint64_t size) {
  return retry_eintr([&] { return ::ftruncate(fd, static_cast<off_t>(size)); }) == -1 ? errno : 0;
}

// Readies the destination for method m: the copy methods write from offset 0
// (so an existing file must be emptied). A clone does not, which keeps an
// existing destination intact when the clone turns out to be impossible.
int prepare_for(Method m, Target& t) {
  if (m == Method::kClone) return 0;
  if (t.exposed) {
    // The clone did not happen: bytes will now arrive one write at a time,
    // and no one else sees them before the last (the file is 0600 until
    // finish_metadata gives it its mode, as one created 0600).
    if (retry_eintr([&] { return ::fchmod(t.fd, 0600); }) == -1) return errno;
    t.exposed = false;
  }
  if (!t.empty) {
    if (int err = truncate_to(t.fd, 0)) return err;
    t.empty = true;
  }
  return 0;
}

// One method's pass over the data: the whole file, or only its data segments.
int run_method(Method m, DataState& state, bool sparse, bool dst_empty) {
  if (m == Method::kClone) return clone_whole(state, dst_empty);
  if (!sparse) return move_data(m, state, kToEof);
  // Size first: writes inside EOF get no speculative preallocation (XFS
  // would otherwise keep megabytes of it past each data segment).
  if (int err = truncate_to(state.dst, state.src_size)) return err;
  return copy_sparse(m, state);
}

// 'always' may not empty an existing destination for a clone that then fails
// all the same (btrfs refuses one between files of different NODATASUM
// flags, with the same EINVAL). The same clone placed beyond the
// destination's end, where the partial last block is allowed, shows whether
// these two files can share extents at all; the destination is then cut back
// to its old size, its bytes untouched. 0 when the clone can work.
int probe_clone(const DataState& state, const Target& t) {
  const uint64_t blk = t.blksize > 0 ? t.blksize : 4096;
  struct file_clone_range range = {};
  range.src_fd = state.src;
  range.src_offset = 0;
  range.src_length = 0;  // to the source's end
  range.dest_offset = (t.size + blk - 1) / blk * blk;
  int err = retry_eintr([&] { return ::ioctl(t.fd, FICLONERANGE, &range); }) == -1 ? errno : 0;
  // Unless the size is known unchanged, cut back: truncating to the size
  // the file already has changes nothing.
  struct stat now;
  const bool known = sys_fstat(t.fd, &now) == 0;
  if (!known && err == 0) err = errno;
  if (!known || static_cast<uint64_t>(now.st_size) != t.size) {
    // The destination must not keep the probe's tail: a second try before
    // giving up (the first may have met a passing error).
    int terr = truncate_to(t.fd, t.size);
    if (terr != 0 && (terr = truncate_to(t.fd, t.size)) != 0) return terr;
  }
  return err;
}

// Moves the data with the first method that can, walking the strategy chain.
// Returns 0 or the errno that ended it; `m` is the method that ran last;
// `clone_err`: why a clone that was tried and passed over failed (0: none).
int fill(ReflinkMode mode, bool sparse, DataState& state, Target& t, Method& m, int& clone_err) {
  m = first_method(mode);
  clone_err = 0;
  for (;;) {
    if (int err = prepare_for(m, t)) return err;
    int err = run_method(m, state, sparse, t.empty);
    if (err == 0) break;
    if (m == Method::kClone && err == EINVAL && !t.empty && t.size > state.src_size) {
      // The kernel will not clone a partial last block into the middle of a
      // longer destination (generic_remap_checks); emptied, it accepts it.
      // Any other EINVAL is not cured by emptying: no truncation for it.
      if (mode == ReflinkMode::kAlways) {
        if (int perr = probe_clone(state, t)) return perr;
      }
      if (int terr = truncate_to(t.fd, 0)) return terr;
      t.empty = true;
      continue;
    }
    Method next = next_method(mode, m, err);
    if (m == Method::kClone && next != Method::kNone) clone_err = err;
    // kNoProgress cannot end the chain (read/write never returns it), but the
    // sentinel must never reach a caller.
    if (next == Method::kNone) return err == kNoProgress ? EIO : err;
    m = next;
  }
  // A clone over a longer destination leaves its tail; a sparse copy ending
  // in a hole leaves the file short. Either way the size is set here, to
  // what was copied (never the size the source had when opened).
  if (!t.empty || (sparse && m != Method::kClone)) return truncate_to(t.fd, state.offset);
  return 0;
}

// The destination side of one copy: the file in place (created or existing),
// or a temporary one in its directory that replaces it when complete.
struct Dest {
  DestDir dir;  // declared before temp: it outlives it
  TempDest temp;
  UniqueFd fd;
  bool use_temp = false;
  bool created = false;
  bool mode_set = false;  // created with its final mode already
  int get() const { return use_temp ? temp.fd() : fd.get(); }
};

// A replacement through a temporary file: what is at the name is only
// looked at (lstat, relative to its directory), never opened or followed.
// `same`: it is the source itself, nothing to do.
int open_replacement(const CopyRequest& req, const struct stat& src_st, mode_t create_mode, Dest& dest,
                     bool& same) {
  if (int err = dest.dir.open(req.dest_dir, req.dest)) return err;
  same = false;
  if (!req.dest_dir_fresh) {
    if (int err = check_existing(dest.dir, src_st, req.overwrite, same)) return err;
  }
  if (same) return 0;
  if (int err = dest.temp.open(dest.dir, create_mode)) return err;
  dest.use_temp = true;
  dest.created = true;
  return 0;
}

}  // namespace

CopyResult copy_file(const CopyRequest& req) {
  const char* reason = nullptr;
  UniqueFd src;
  struct stat src_st;
  if (int err = open_source(req, src, src_st, reason)) return fail(err, reason);
  if (req.control.cancelled()) return fail(ECANCELED);
  const uint64_t src_dev = static_cast<uint64_t>(src_st.st_dev);

  // A new file (or temporary file) is private (0600) until its data is
  // complete. Created for a clone, which fills it in one step (empty, then
  // whole), it gets its final mode at once, saving the fchmod, when it is
  // then never more visible than the finished file will be: no
  // setuid/setgid/sticky bit (those need the rules in finish_metadata), and
  // its owner and group stay the copier's (no preserved ownership) with no
  // ACL to come (no preserved xattrs: a copied ACL can give the owning group
  // less than the group bits show). open() only takes away (the umask, a
  // default ACL), never adds. Should the clone fall back to a byte copy, the
  // file is made private first (prepare_for). Inside a directory that keeps
  // others out (a tree copy's new directories) the final mode is always safe.
  const mode_t final_mode = src_st.st_mode & 07777;
  const bool create_final =
      (final_mode & 07000) == 0 &&
      (req.dest_dir_private ||
       (!req.preserve.ownership && !req.preserve.xattrs &&
        // (an atomic copy's O_TMPFILE is invisible until complete, whatever moves the data)
        (req.atomic || (req.reflink != ReflinkMode::kNever && req.reflink != ReflinkMode::kCopyOnly))));
  const mode_t create_mode = create_final ? final_mode : 0600;
  // Whether open() is known to have given exactly final_mode without
  // looking: the batch binding read the umask (and checks it left the mode
  // whole). Otherwise the fstat a clone makes anyway tells (below).
  const bool umask_known_whole = req.dest_dir_private && !req.dest_dir_acl && create_final &&
                                 (final_mode & ~req.umask) == final_mode;

  Dest dest;
  CopyResult result;
  struct stat dst_st = {};
  if (req.atomic) {
    bool same = false;
    if (int err = open_replacement(req, src_st, create_mode, dest, same)) return fail(err);
    if (same) return result;  // Method::kNone
  } else {
    // A batch never opens an existing destination: exclusive create, else
    // a replacement through a temporary file.
    const bool open_existing = req.overwrite && !req.replace_by_rename;
    int err = open_dest(req.dest_dir, req.dest.c_str(), O_WRONLY, create_mode, open_existing,
                        req.dest_rules, dest.fd, dst_st, dest.created, reason);
    if (err == EEXIST && req.replace_by_rename && reason == nullptr) {
      bool same = false;
      if ((err = open_replacement(req, src_st, create_mode, dest, same))) return fail(err);
      if (same) return result;  // Method::kNone
    } else if (err) {
      return fail(err, reason);
    }
    dest.mode_set = umask_known_whole && dest.created && !dest.use_temp;
    // One file under two names (or a hard link): copying would truncate the
    // source before reading it. libuv's rule: succeed without touching data.
    if (!dest.created && src_st.st_dev == dst_st.st_dev && src_st.st_ino == dst_st.st_ino) {
      return result;  // Method::kNone
    }
  }

  DataState state;
  state.src = src.get();
  state.dst = dest.get();
  state.src_size = static_cast<uint64_t>(src_st.st_size);
  state.size_by_range = req.dest_dir_private && dest.mode_set && dest.created && !dest.use_temp;
  state.control = req.control;
  req.control.total(state.src_size);
  Target target;
  target.fd = dest.get();
  target.created = dest.created;
  target.empty = dest.created;
  target.size = dest.created ? 0 : static_cast<uint64_t>(dst_st.st_size);
  target.blksize = dest.created ? 0 : static_cast<uint64_t>(dst_st.st_blksize);
  target.exposed = dest.created && create_final && !req.dest_dir_private && (create_mode & 077) != 0 &&
                   !(dest.use_temp && dest.temp.anonymous());
  bool sparse = req.sparse && looks_sparse(src_st);
  // A batch skips a clone already found impossible between these two
  // devices, and remembers one that turns out so (never a passing error).
  ReflinkMode mode = req.reflink;
  uint64_t dest_dev = req.dest_dev;
  auto known_dest_dev = [&] {
    struct stat st;
    if (dest_dev == 0 && sys_fstat(dest.get(), &st) == 0) dest_dev = static_cast<uint64_t>(st.st_dev);
    return dest_dev;
  };
  if (req.remember && mode == ReflinkMode::kAuto && link_memory::any() &&
      link_memory::dropped(Rung::kClone, src_dev, known_dest_dev())) {
    mode = ReflinkMode::kCopyOnly;
  }
  int clone_err = 0;
  int err = fill(mode, sparse, state, target, result.method, clone_err);
  // The clone's answer: passed over in the chain, or the last word of a
  // clone-only rung ('always' in a ladder).
  const int clone_answer = clone_err != 0 ? clone_err : (result.method == Method::kClone ? err : 0);
  if (req.remember && clone_not_available(clone_answer) &&
      !clone_failure_is_per_file(src.get(), dest.get(), clone_answer) && known_dest_dev() != 0 &&
      !(clone_answer == EXDEV && dest_dev == src_dev)) {  // (a mount boundary, not the devices)
    link_memory::drop(Rung::kClone, src_dev, dest_dev);
  }
  // A clone into the new file fstat-ed it: when open() gave it exactly its
  // final mode (the umask or a default ACL took nothing), no fchmod.
  if (create_final && dest.created && state.dst_known && state.dst_mode == final_mode) dest.mode_set = true;
  if (err == 0) {
    err = finish_metadata(src.get(), dest.get(), src_st, req.preserve, dest.created, dest.mode_set);
  }
  if (err == 0 && req.fsync && retry_eintr([&] { return ::fsync(dest.get()); }) == -1) err = errno;
  // The last chance to back out: after this the destination is final.
  if (err == 0 && req.control.cancelled()) err = ECANCELED;

  if (dest.use_temp) {
    if (err == 0) {
      err = dest.temp.publish(req.overwrite, req.fsync, result.reason, result.method != Method::kClone);
      // The name was free when looked at (or could not be taken by anyone
      // else): whatever took it since is not an "existing" destination.
      if (err == EEXIST && result.reason == nullptr) result.reason = kTakenWhileCopying;
    }
    if (err != 0) dest.temp.discard();
  } else if (err != 0) {
    if (dest.created) remove_if_ours(req.dest_dir, req.dest.c_str(), dest.fd.get());
    dest.fd.reset();
  } else {
    // close() can be the first to report a failed write-back (NFS, quota).
    // The descriptor is gone then, so the file's identity is taken first:
    // the name is removed only while it is still the file we created.
    // (In a directory only this call can write, the name is the file.)
    struct stat ours;
    bool known = false;
    if (dest.created && state.dst_known) {
      ours.st_dev = static_cast<dev_t>(state.dst_dev);
      ours.st_ino = static_cast<ino_t>(state.dst_ino);
      known = true;
    } else if (dest.created && !req.dest_dir_private) {
      known = sys_fstat(dest.fd.get(), &ours) == 0;
    }
    if (int close_err = dest.fd.close_checked()) {
      err = close_err;
      if (known) {
        remove_if_same(req.dest_dir, req.dest.c_str(), ours);
      } else if (dest.created && req.dest_dir_private) {
        retry_eintr([&] { return ::unlinkat(req.dest_dir, req.dest.c_str(), 0); });
      }
    }
  }
  // EAGAIN from a clone that was the only method allowed ('always'): the
  // filesystem cannot share these extents now (OpenZFS, until the source's
  // data is synced). Otherwise only a file whose read() or write() waits for
  // something other than a disk says EAGAIN through O_NONBLOCK (the errno
  // table passes a clone's, copy_file_range's and sendfile's EAGAIN on): name
  // it, strerror does not.
  if (err == EAGAIN && result.reason == nullptr) {
    result.reason = result.method == Method::kClone ? kCloneNotNowReason : kWouldBlockReason;
  }
  result.err = err;
  result.src_dev = src_dev;
  result.bytes = err == 0 ? state.offset : 0;
  if (err == 0) req.control.done(state.offset);
  return result;
}

}  // namespace cowcopy
