// CPU time of processes on this machine, from /proc (Linux): what a benchmark needs to say who
// used the cores during a step, when Postgres, a function server and a fake share them. Wall
// time waited on a call cannot tell a slow query from a busy event loop; CPU seconds can.
import { percent } from "./output.ts";

/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`, 100 on Linux). */
const ticksPerSecond = await (async () => {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    const ticks = Number(new TextDecoder().decode(out.stdout).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/** /proc/<pid>/stat from field 3 on (index 1: the parent, 11–14: utime, stime, cutime, cstime). */
async function statFields(pid: number | string): Promise<string[] | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // The command name before them is in parentheses and may hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // Gone.
  }
}

const seconds = (fields: string[] | undefined, from: number, to: number) => {
  let ticks = 0;
  for (let i = from; i <= to; i++) ticks += Number(fields?.[i] ?? 0);
  return ticks / ticksPerSecond;
};

/** The postmaster of the cluster a backend belongs to (the backend's parent). */
export async function postmasterOf(backendPid: number): Promise<number> {
  const parent = Number((await statFields(backendPid))?.[1]);
  if (!(parent > 1)) throw new Error(`no postmaster found for backend ${backendPid}`);
  return parent;
}

/**
 * CPU seconds so far of one Postgres cluster: its postmaster, every live child (backends,
 * pg_cron's workers, autovacuum, the WAL writer) and the children that have exited, which the
 * kernel adds to the postmaster's cutime and cstime when it reaps them.
 */
async function clusterSeconds(postmaster: number): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = await statFields(entry.name);
    if (Number(fields?.[1]) === postmaster) total += seconds(fields, 11, 12);
  }
  return total + seconds(await statFields(postmaster), 11, 14);
}

export type CpuSample = { postgres: number; processes: Map<number, number> };

/** CPU seconds so far of a Postgres cluster (by its postmaster) and of the given processes. */
export async function sampleCpu(postmaster: number, pids: number[]): Promise<CpuSample> {
  const processes = new Map<number, number>();
  for (const pid of pids) processes.set(pid, seconds(await statFields(pid), 11, 12));
  return { postgres: await clusterSeconds(postmaster), processes };
}

/** CPU seconds between two samples: the cluster, and each of the given processes. */
export function cpuBetween(before: CpuSample, after: CpuSample) {
  const processes = new Map<number, number>();
  for (const [pid, used] of after.processes) {
    processes.set(pid, used - (before.processes.get(pid) ?? 0));
  }
  return { postgres: after.postgres - before.postgres, processes };
}

/**
 * Table rows for a step's CPU: the total against what the cores could give, then Postgres and
 * each named process, as a share of the CPU measured and per unit of work.
 */
export function cpuRows(
  used: ReturnType<typeof cpuBetween>,
  named: [pid: number, label: string][],
  work: { step: string; count: number; unit: string; elapsedMs: number },
): string[][] {
  const sides: [string, number][] = [
    ["Postgres (the cluster's processes)", used.postgres],
    ...named.map(([pid, label]): [string, number] => [label, used.processes.get(pid) ?? 0]),
  ];
  const all = sides.reduce((sum, [, s]) => sum + s, 0);
  const cores = navigator.hardwareConcurrency;
  const per = (s: number) => `${((s * 1e6) / Math.max(1, work.count)).toFixed(0)} µs/${work.unit}`;
  return [
    [
      `CPU during ${work.step} (from /proc)`,
      `${all.toFixed(1)} s`,
      `of ${((cores * work.elapsedMs) / 1000).toFixed(1)} s on ${cores} cores; shares of it:`,
    ],
    ...sides.map(([label, s]) => [
      `  ${label}`,
      percent(s, Math.max(all, 1e-9)),
      `${s.toFixed(1)} s, ${per(s)}`,
    ]),
  ];
}
