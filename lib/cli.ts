#!/usr/bin/env node
// The `cowcopy` command: cp's options and meanings (clone first, say which
// method ran), plus `cowcopy probe [DIR]` and `cowcopy dedupe FILE...`.
// Exit 0 on success, 1 when any file failed, 2 on usage errors.
//   cli/args.ts      cp's command line
//   cli/copy.ts      copying the operands (cli/parents.ts: --parents)
//   cli/subcommands.ts  probe and dedupe
//   cli/output.ts    messages, quoting, JSON lines
//   cli/paths.ts     argument bytes (names that are not UTF-8)
import { parse } from './cli/args'
import { runCopy } from './cli/copy'
import { fail, out, UsageError } from './cli/output'
import { rawArgv } from './cli/paths'
import { runDedupe, runProbe } from './cli/subcommands'

const USAGE = `Usage: cowcopy [OPTION]... [-T] SOURCE DEST
  or:  cowcopy [OPTION]... SOURCE... DIRECTORY
  or:  cowcopy [OPTION]... -t DIRECTORY SOURCE...
  or:  cowcopy probe [--json] [DIR]
  or:  cowcopy dedupe [--json] FILE FILE...

Copy SOURCE to DEST, or SOURCEs into DIRECTORY, as cp does, cloning
(copy-on-write) where the filesystem can and saying which method did the work.
'probe' and 'dedupe' are subcommands only as the first argument: to copy a
file named probe, write ./probe or -- probe.

  -a, --archive            same as -dR --preserve=all
      --atomic             write to a temporary file, rename it into place
  -d, -P, --no-dereference  copy symlinks as symlinks
  -f, --force              if an existing destination cannot be opened,
                             remove it and try again
  -H                       follow symlinks named on the command line
  -l, --link               hard link files instead of copying
  -L, --dereference        always follow symlinks in SOURCE
  -n, --no-clobber         do not overwrite an existing file
  -p                       same as --preserve=mode,ownership,timestamps
      --preserve[=LIST]    keep: mode (with ACLs), ownership, timestamps,
                             xattr, all (default: mode,ownership,timestamps)
      --no-preserve=LIST   do not keep the attributes in LIST
      --parents            append the source path to DIRECTORY
  -r, -R, --recursive      copy directories recursively
      --reflink[=WHEN]     auto (default): clone if possible, else copy;
                             always (also --reflink alone): clone or fail;
                             never: a real copy of the bytes
      --remove-destination  remove each existing destination first
      --sparse=WHEN        auto/always: keep holes (default); never: write every byte
  -s, --symbolic-link      make symbolic links instead of copying
  -t, --target-directory=DIRECTORY  copy all SOURCEs into DIRECTORY
  -T, --no-target-directory  treat DEST as a normal file
  -u, --update[=older]     copy only when SOURCE is newer than DEST (or DEST
                             is missing); --update=none is -n, =all the default
  -v, --verbose            one line per file with the method (and a total per tree)
      --json               JSON lines: one object per SOURCE, or the probe/dedupe result
      --progress           a progress bar on a terminal (nothing when not a TTY)
  -h, --help               this help
      --version            the version

  probe [DIR]              what DIR's filesystem can do (default: .)
  dedupe FILE FILE...      share identical data of the other FILEs with the first

Exit status: 0 if all went well, 1 if any file failed, 2 on a usage error
or an option cowcopy does not support.`

export async function main(argv: string[]): Promise<number> {
  try {
    // Arguments as latin1 text of their bytes (cli/paths.ts); a subcommand
    // only as the first argument.
    const args = rawArgv(argv)
    const sub = args[0] === 'probe' || args[0] === 'dedupe' ? args[0] : null
    const { flags, operands, help, version } = parse(sub ? args.slice(1) : args)
    if (help) {
      out(USAGE)
      return 0
    }
    if (version) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      out(`cowcopy ${(require('../package.json') as { version: string }).version}`)
      return 0
    }
    if (sub === 'probe') return await runProbe(flags.json, operands)
    if (sub === 'dedupe') return await runDedupe(flags.json, operands)
    return await runCopy(flags, operands)
  } catch (err) {
    if (err instanceof UsageError) {
      fail(err.message)
      process.stderr.write("Try 'cowcopy --help' for more information.\n")
      return 2
    }
    fail(String((err as Error)?.stack ?? err))
    return 1
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
