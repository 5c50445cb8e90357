import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { repoRoot } from './processes.ts';

/** An `npm run <script>` as a user starts it, in a process group of its own. */
export interface NpmRun {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects on exit or timeout. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves with npm's exit code (or signal name); rejects after `timeoutMs`. */
  exited(timeoutMs: number): Promise<number | string>;
}

export function runNpm(args: string[], env: NodeJS.ProcessEnv): NpmRun {
  // detached: a group of its own, so a test can send what a terminal's Ctrl-C sends (a signal
  // to every process of the group) and nothing outside it.
  const child = spawn('npm', args, {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exit = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  if (child.pid === undefined) throw new Error('npm did not start');
  return {
    child,
    pid: child.pid,
    output: () => output,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (!match) return;
          finish();
          resolve(match);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${output}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        exit.then((code) => {
          if (!listeners.has(check)) return;
          finish();
          reject(new Error(`npm exited (${code}) before ${pattern}; output:\n${output}`));
        });
        check();
      });
    },
    exited(timeoutMs) {
      return Promise.race([
        exit,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`npm still running after ${timeoutMs} ms:\n${output}`)),
            timeoutMs,
          ).unref(),
        ),
      ]);
    },
  };
}

/** Every process below `pid` now (children, their children…), from `ps` (Linux and macOS). */
export function descendants(pid: number): number[] {
  const table = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
