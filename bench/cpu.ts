/**
 * Process CPU of workerd, read from /proc (Linux): the time a process's
 * threads have run, and the workerd processes below a given one (wrangler
 * dev's, or the ones Miniflare started for this process).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

function stat(pid: number): { comm: string; ppid: number; cpuTicks: number } | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = raw.lastIndexOf(")");
    const comm = raw.slice(raw.indexOf("(") + 1, close);
    const fields = raw.slice(close + 2).split(" ");
    // After ")": state(0) ppid(1) ... utime(11) stime(12).
    return { comm, ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/**
 * ms of CPU the process has used so far: the run time of each of its threads
 * (`/proc/<pid>/task/<tid>/schedstat`, ns) summed, where the kernel keeps
 * it; else user + system time (`/proc/<pid>/stat`, 10 ms resolution). One
 * machine gives one or the other on every read, so a difference never mixes
 * them. A thread's time leaves the sum when it exits (a thread gone between
 * the listing and its read counts nothing); workerd's threads are its event
 * loop and V8's workers, which live as long as the process.
 */
export function cpuMs(pid: number): number {
  const s = stat(pid);
  if (!s) throw new Error(`process ${pid} is gone`);
  if (!SCHEDSTAT) return (s.cpuTicks * 1000) / TICKS_PER_S;
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // exited since the listing
    }
  }
  return ns / 1e6;
}

/** Whether this kernel keeps per-thread run times (CONFIG_SCHEDSTATS / CONFIG_SCHED_INFO). */
const SCHEDSTAT = existsSync(`/proc/${process.pid}/task/${process.pid}/schedstat`);

/** pids of the workerd processes descending from `root`. */
export function workerdBelow(root: number): number[] {
  const parent = new Map<number, number>();
  const names = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (!s) continue;
    parent.set(Number(entry), s.ppid);
    names.set(Number(entry), s.comm);
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) return true;
    }
    return false;
  };
  return [...names].filter(([pid, comm]) => comm === "workerd" && below(pid)).map(([pid]) => pid);
}

/** CPU ms used so far by the workerd processes below `root`; null when there are none. */
export function workerdCpuMsBelow(root: number): number | null {
  const pids = workerdBelow(root);
  return pids.length === 0 ? null : pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
}
