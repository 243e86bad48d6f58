#include "dir_listing.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "stat_calls.h"

namespace cowcopy {

unsigned char dirent_type(mode_t m) {
  if (S_ISREG(m)) return DT_REG;
  if (S_ISDIR(m)) return DT_DIR;
  if (S_ISLNK(m)) return DT_LNK;
  if (S_ISFIFO(m)) return DT_FIFO;
  if (S_ISSOCK(m)) return DT_SOCK;
  if (S_ISCHR(m)) return DT_CHR;
  if (S_ISBLK(m)) return DT_BLK;
  return DT_UNKNOWN;
}

int list_dir(int fd, std::vector<DirEntry>& out) {
  alignas(8) char buf[32 * 1024];
  return each_entry(fd, buf, sizeof buf, [&](const char* name, unsigned char type, uint64_t ino) {
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (sys_fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) type = dirent_type(st.st_mode);
    }
    out.push_back(DirEntry{name, type, ino});
    return true;
  });
}

}  // namespace cowcopy
