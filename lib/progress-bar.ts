// A one-line progress bar for a terminal: bytes, rate and ETA (files for a
// tree, whose total is not known up front). A few lines over the stream
// rather than a dependency: it redraws at most every 100 ms (cowcopy's
// progress interval) and clears itself when done.
import type { WriteStream } from 'node:tty'

/** 1536 -> "1.5 KiB"; bytes under 1 KiB as a whole number ("10 B"). */
export function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

export class ProgressBar {
  private label = ''
  private total = 0
  private started = 0
  private lastLine = ''

  constructor(private readonly stream: WriteStream) {}

  start(label: string, total: number): void {
    this.label = label
    this.total = total
    this.started = performance.now()
  }

  update(done: number, total: number, files?: number): void {
    if (total > 0) this.total = total
    const secs = Math.max((performance.now() - this.started) / 1000, 0.001)
    const rate = done / secs
    const width = Math.max(10, Math.min(40, (this.stream.columns || 80) - 60))
    let line: string
    if (this.total > 0) {
      const frac = Math.min(done / this.total, 1)
      const fill = Math.round(frac * width)
      const eta = rate > 0 ? Math.ceil((this.total - done) / rate) : 0
      line = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${human(done)}/${human(this.total)} ${human(rate)}/s ETA ${eta}s`
    } else {
      line = `${files ?? 0} files, ${human(done)}, ${human(rate)}/s`
    }
    line = `${this.label.slice(-20)} ${line}`
    if (line === this.lastLine) return
    this.lastLine = line
    this.stream.write(`\r${line}\x1b[K`)
  }

  done(): void {
    if (this.lastLine) this.stream.write(`\r${this.lastLine}\n`)
    this.lastLine = ''
  }
}
