'use strict'
// Names a directory's filesystem from statfs(2)'s magic number.
const fs = require('node:fs')

const NAMES = new Map([
  [0x9123683e, 'btrfs'],
  [0x58465342, 'xfs'],
  [0xef53, 'ext4'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlay'],
  [0x6969, 'nfs'],
  [0x65735546, 'fuse'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0xca451a4e, 'bcachefs'],
  [0x2fc12fc1, 'zfs'],
])

function fsType(dir) {
  const type = fs.statfsSync(dir).type
  return NAMES.get(type) || `0x${type.toString(16)}`
}

module.exports = { fsType }
