// CPU time of processes on this machine, from /proc (Linux): what a benchmark needs to say who
// used the cores during a step, when Postgres, a function server and a fake share them. Wall
// time waited on a call cannot tell a slow query from a busy event loop; CPU seconds can.

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

/** User + system CPU seconds of one process so far; 0 once it has gone. */
async function processSeconds(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return 0;
  }
}

/** Every live process whose command name is `name`, by pid. */
async function processesNamed(name: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const comm = await Deno.readTextFile(`/proc/${entry.name}/comm`);
      if (comm.trim() === name) pids.push(Number(entry.name));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return pids;
}

export type CpuSample = { postgres: Map<number, number>; processes: Map<number, number> };

/**
 * CPU seconds so far of every Postgres process and of the given pids. Two samples give what each
 * used in between; a Postgres backend that exits in between takes its time with it (the
 * dispatchers' pooled connections stay open for the whole step).
 */
export async function sampleCpu(pids: number[]): Promise<CpuSample> {
  const postgres = new Map<number, number>();
  for (const pid of await processesNamed("postgres")) postgres.set(pid, await processSeconds(pid));
  const processes = new Map<number, number>();
  for (const pid of pids) processes.set(pid, await processSeconds(pid));
  return { postgres, processes };
}

/** CPU seconds between two samples: all of Postgres, and each of the given pids. */
export function cpuBetween(before: CpuSample, after: CpuSample) {
  let postgres = 0;
  for (const [pid, seconds] of after.postgres) {
    postgres += seconds - (before.postgres.get(pid) ?? 0);
  }
  const processes = new Map<number, number>();
  for (const [pid, seconds] of after.processes) {
    processes.set(pid, seconds - (before.processes.get(pid) ?? 0));
  }
  return { postgres, processes };
}

/**
 * Table rows for a step's CPU: the total against what the cores could give, then Postgres and
 * each named process, as a share of the total and per unit of work.
 */
export function cpuRows(
  used: ReturnType<typeof cpuBetween>,
  named: [pid: number, label: string][],
  work: { step: string; count: number; unit: string; elapsedMs: number },
): string[][] {
  const sides: [string, number][] = [
    ["Postgres (every backend)", used.postgres],
    ...named.map(([pid, label]): [string, number] => [label, used.processes.get(pid) ?? 0]),
  ];
  const all = sides.reduce((sum, [, seconds]) => sum + seconds, 0);
  const cores = navigator.hardwareConcurrency;
  const per = (seconds: number) =>
    `${((seconds * 1e6) / Math.max(1, work.count)).toFixed(0)} µs/${work.unit}`;
  return [
    [
      `CPU during ${work.step} (from /proc)`,
      `${all.toFixed(1)} s`,
      `of ${((cores * work.elapsedMs) / 1000).toFixed(1)} s on ${cores} cores`,
    ],
    ...sides.map(([label, seconds]) => [
      `  ${label}`,
      `${((100 * seconds) / Math.max(all, 1e-9)).toFixed(0)} %`,
      `${seconds.toFixed(1)} s, ${per(seconds)}`,
    ]),
  ];
}
