// cp's command line: getopt_long's rules (options anywhere unless
// POSIXLY_CORRECT, bundled short options, -tDIR and -t DIR, --opt=VALUE,
// unique abbreviations of long names, "--" ends the options) over cp's
// option table plus cowcopy's own (--atomic, --json, --progress). Works on
// latin1 text of the raw argument bytes (paths.ts), so a path argument keeps
// bytes that are not UTF-8.
import { fromBytesText, type P } from './paths'
import { UsageError, Unsupported } from './output'

export type When = 'auto' | 'always' | 'never'
// 'acl' rides with 'mode', as in cp (--preserve=mode keeps ACLs): see apiPreserve.
export type Attr = 'mode' | 'ownership' | 'timestamps' | 'xattr' | 'acl'

export interface Flags {
  recursive: boolean
  /** cp's -L / -H / -P; resolved against -r when none is given. */
  dereference: 'always' | 'args' | 'never'
  reflink: When
  sparse: When
  noClobber: boolean
  update: boolean
  force: boolean
  removeDestination: boolean
  link: 'hard' | 'symbolic' | null
  preserve: Set<Attr>
  /** --no-preserve=mode given: directories --parents makes get 0777 less the umask, not the source's mode. */
  noPreserveMode: boolean
  parents: boolean
  targetDir: P | null
  noTargetDir: boolean
  atomic: boolean
  verbose: boolean
  json: boolean
  progress: boolean
}

export interface Parsed {
  flags: Flags
  operands: P[]
  help: boolean
  version: boolean
}

type Arg = 'none' | 'required' | 'optional'
// long name -> [argument, the short letter or key it stands for]
const LONG: Record<string, [Arg, string]> = {
  archive: ['none', 'a'],
  'attributes-only': ['none', 'attributes-only'],
  backup: ['optional', 'b'],
  'copy-contents': ['none', 'copy-contents'],
  debug: ['none', 'debug'],
  dereference: ['none', 'L'],
  force: ['none', 'f'],
  interactive: ['none', 'i'],
  link: ['none', 'l'],
  'no-clobber': ['none', 'n'],
  'no-dereference': ['none', 'P'],
  'no-preserve': ['required', 'no-preserve'],
  'no-target-directory': ['none', 'T'],
  'one-file-system': ['none', 'x'],
  parents: ['none', 'parents'],
  path: ['none', 'parents'],
  preserve: ['optional', 'preserve'],
  recursive: ['none', 'R'],
  'remove-destination': ['none', 'remove-destination'],
  sparse: ['required', 'sparse'],
  reflink: ['optional', 'reflink'],
  'strip-trailing-slashes': ['none', 'strip-trailing-slashes'],
  suffix: ['required', 'S'],
  'symbolic-link': ['none', 's'],
  'target-directory': ['required', 't'],
  update: ['optional', 'update'],
  verbose: ['none', 'v'],
  'keep-directory-symlink': ['none', 'keep-directory-symlink'],
  context: ['optional', 'Z'],
  atomic: ['none', 'atomic'],
  json: ['none', 'json'],
  progress: ['none', 'progress'],
  help: ['none', 'h'],
  version: ['none', 'version'],
}
// short letters; true = takes an argument
const SHORT: Record<string, boolean> = {
  a: false, b: false, d: false, f: false, H: false, i: false, l: false, L: false, n: false,
  P: false, p: false, r: false, R: false, s: false, S: true, t: true, T: false, u: false,
  v: false, x: false, Z: false, h: false,
}

const ATTRS: Record<string, Attr[] | 'links' | 'context'> = {
  mode: ['mode', 'acl'],
  ownership: ['ownership'],
  timestamps: ['timestamps'],
  xattr: ['xattr', 'acl'],
  all: ['mode', 'acl', 'ownership', 'timestamps', 'xattr'],
  links: 'links',
  context: 'context',
}

const show = (s: string) => `'${fromBytesText(s).toString()}'`

// An abbreviation is fine when it names one option (cp's getopt_long).
function longName(name: string): string {
  if (LONG[name]) return name
  const hits = Object.keys(LONG).filter((k) => k.startsWith(name))
  const distinct = new Set(hits.map((k) => LONG[k][1]))
  if (hits.length === 0) throw new UsageError(`unrecognized option '--${name}'`)
  if (distinct.size > 1) throw new UsageError(`option '--${name}' is ambiguous; possibilities: ${hits.map((h) => `'--${h}'`).join(' ')}`)
  return hits[0]
}

function when(option: string, value: string): When {
  if (value === 'auto' || value === 'always' || value === 'never') return value
  throw new UsageError(`invalid argument ${show(value)} for '--${option}'\nValid arguments are:\n  - 'auto'\n  - 'always'\n  - 'never'`)
}

function attrList(option: string, value: string): (Attr | 'links' | 'context')[] {
  const outList: (Attr | 'links' | 'context')[] = []
  for (const word of value.split(',')) {
    const a = ATTRS[word]
    if (!a) throw new UsageError(`invalid argument ${show(word)} for '--${option}'\nValid arguments are: 'mode', 'timestamps', 'ownership', 'links', 'context', 'xattr', 'all'`)
    if (Array.isArray(a)) outList.push(...a)
    else outList.push(a)
  }
  return outList
}

/** Options and operands from the latin1 text of the raw arguments. */
export function parse(args: string[]): Parsed {
  const f: Flags = {
    recursive: false, dereference: 'always', reflink: 'auto', sparse: 'auto', noClobber: false,
    update: false, force: false, removeDestination: false, link: null, preserve: new Set(), noPreserveMode: false,
    parents: false, targetDir: null, noTargetDir: false, atomic: false, verbose: false, json: false,
    progress: false,
  }
  let deref: Flags['dereference'] | null = null
  let help = false
  let version = false
  const operands: P[] = []
  const preserveLinks: boolean[] = []

  const apply = (key: string, value: string | undefined): void => {
    switch (key) {
      case 'a': f.recursive = true; deref = 'never'; for (const a of ATTRS.all as Attr[]) f.preserve.add(a); break
      case 'd': deref = 'never'; break
      case 'P': deref = 'never'; break
      case 'L': deref = 'always'; break
      case 'H': deref = 'args'; break
      case 'r': case 'R': f.recursive = true; break
      case 'f': f.force = true; break
      case 'n': f.noClobber = true; break
      case 'u': f.update = true; break
      case 'update':
        if (value === undefined || value === 'older') f.update = true
        else if (value === 'none') f.noClobber = true
        else if (value === 'all') f.update = false
        else if (value === 'none-fail') throw new Unsupported("'--update=none-fail'")
        else throw new UsageError(`invalid argument ${show(value)} for '--update'\nValid arguments are:\n  - 'all'\n  - 'none'\n  - 'none-fail'\n  - 'older'`)
        break
      case 'l': f.link = f.link === 'symbolic' ? conflict() : 'hard'; break
      case 's': f.link = f.link === 'hard' ? conflict() : 'symbolic'; break
      case 'p': for (const a of ['mode', 'acl', 'ownership', 'timestamps'] as const) f.preserve.add(a); break
      case 'preserve':
        for (const a of attrList('preserve', value ?? 'mode,ownership,timestamps')) {
          if (a === 'links') preserveLinks.push(true)
          else if (a === 'context') throw new Unsupported('--preserve=context (SELinux contexts are not copied)')
          else f.preserve.add(a)
        }
        break
      case 'no-preserve':
        for (const a of attrList('no-preserve', value!)) {
          if (a === 'links') preserveLinks.push(false)
          else if (a !== 'context') f.preserve.delete(a)
          if (a === 'mode') f.noPreserveMode = true
        }
        break
      case 'parents': f.parents = true; break
      case 't':
        if (f.targetDir !== null) throw new UsageError('multiple target directories specified')
        f.targetDir = fromBytesText(value!)
        break
      case 'T': f.noTargetDir = true; break
      case 'remove-destination': f.removeDestination = true; break
      case 'reflink': f.reflink = value === undefined ? 'always' : when('reflink', value); break
      case 'sparse': f.sparse = when('sparse', value!); break
      case 'v': f.verbose = true; break
      case 'atomic': f.atomic = true; break
      case 'json': f.json = true; break
      case 'progress': f.progress = true; break
      case 'h': help = true; break
      case 'version': version = true; break
      case 'i': throw new Unsupported("'-i' (--interactive): cowcopy does not ask; use -n to keep existing files")
      case 'b': case 'S': throw new Unsupported("'--backup' and '--suffix' (backups of replaced files)")
      case 'x': throw new Unsupported("'-x' (--one-file-system)")
      case 'Z': throw new Unsupported("'-Z' (--context): SELinux contexts are not set")
      case 'attributes-only': throw new Unsupported("'--attributes-only'")
      case 'copy-contents': throw new Unsupported("'--copy-contents': FIFOs and devices are not read")
      case 'debug': throw new Unsupported("'--debug' (use -v, which names the method of each copy)")
      case 'strip-trailing-slashes': throw new Unsupported("'--strip-trailing-slashes'")
      case 'keep-directory-symlink': throw new Unsupported("'--keep-directory-symlink'")
      default: throw new UsageError(`invalid option -- '${key}'`)
    }
  }
  const conflict = (): never => {
    throw new UsageError('cannot make both hard and symbolic links')
  }

  const permute = !process.env.POSIXLY_CORRECT
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--') {
      operands.push(...args.slice(i + 1).map(fromBytesText))
      break
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      const name = longName(eq < 0 ? a.slice(2) : a.slice(2, eq))
      const [kind, key] = LONG[name]
      let value: string | undefined = eq < 0 ? undefined : a.slice(eq + 1)
      if (kind === 'none' && value !== undefined) throw new UsageError(`option '--${name}' doesn't allow an argument`)
      if (kind === 'required' && value === undefined) {
        if (i + 1 >= args.length) throw new UsageError(`option '--${name}' requires an argument`)
        value = args[++i]
      }
      apply(key, value)
      continue
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]
        if (!(c in SHORT)) throw new UsageError(`invalid option -- '${c}'`)
        if (SHORT[c]) {
          let value = a.slice(j + 1)
          if (value === '') {
            if (i + 1 >= args.length) throw new UsageError(`option requires an argument -- '${c}'`)
            value = args[++i]
          }
          apply(c, value)
          break
        }
        apply(c, undefined)
      }
      continue
    }
    operands.push(fromBytesText(a))
    if (!permute) {
      operands.push(...args.slice(i + 1).map(fromBytesText))
      break
    }
  }

  if (preserveLinks.length && preserveLinks[preserveLinks.length - 1]) {
    throw new Unsupported('--preserve=links (hard links between copied files are copied as separate files)')
  }
  // cp: -r alone does not follow symlinks, otherwise they are followed. With
  // -rl cp hard-links what a symlink in the tree points to; copyDir recreates
  // such links as symlinks instead (its hardlink rung refuses a file reached
  // through a link), so -l follows only the operands unless -L is given.
  f.dereference = deref ?? (f.link === 'hard' ? 'args' : f.recursive ? 'never' : 'always')
  if (f.reflink === 'always' && f.sparse === 'never') {
    throw new UsageError("--reflink=always cannot be used with --sparse=never (a clone shares the source's blocks, holes included)")
  }
  if (f.targetDir !== null && f.noTargetDir) throw new UsageError('cannot combine --target-directory (-t) and --no-target-directory (-T)')
  if (f.atomic && f.link) throw new UsageError(`--atomic cannot be used with ${f.link === 'hard' ? '-l' : '-s'} (it writes a copy)`)
  if (f.parents && f.noTargetDir) throw new UsageError('cannot combine --parents and --no-target-directory (-T)')
  return { flags: f, operands, help, version }
}
