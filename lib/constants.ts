import { constants as fsConstants } from 'node:fs'

/** The numeric mode flags of `fs.copyFile`, with the same values. */
export const constants = Object.freeze({
  COPYFILE_EXCL: fsConstants.COPYFILE_EXCL,
  COPYFILE_FICLONE: fsConstants.COPYFILE_FICLONE,
  COPYFILE_FICLONE_FORCE: fsConstants.COPYFILE_FICLONE_FORCE,
})
