// What every benchmark prints: a markdown table and its goal lines. The goal line's form is
// fixed (`goal <name>: <measured> (goal <op> <target>) ok|short`) so a script can read a run.

/** Prints rows under a header as a markdown table, each column as wide as its widest cell. */
export function printTable(header: string[], rows: string[][]): void {
  const width = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    `| ${header.map((_, i) => (cells[i] ?? "").padEnd(width[i])).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${width.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}

export type GoalOp = "<" | "<=" | ">" | ">=";

/**
 * Prints one goal line and says whether it is met. `digits` is how many decimals the measured
 * value and the target are shown with; `note` (optional) follows the line in brackets.
 */
export function printGoal(
  name: string,
  measured: number,
  op: GoalOp,
  target: number,
  options: { digits?: number; unit?: string; note?: string } = {},
): boolean {
  const ok = op === "<"
    ? measured < target
    : op === "<="
    ? measured <= target
    : op === ">"
    ? measured > target
    : measured >= target;
  const digits = options.digits ?? 2;
  const unit = options.unit ?? "";
  const note = options.note ? ` [${options.note}]` : "";
  console.log(
    `goal ${name}: ${measured.toFixed(digits)}${unit} (goal ${op} ${
      target.toFixed(digits)
    }${unit}) ${ok ? "ok" : "short"}${note}`,
  );
  return ok;
}

/** A whole number with thousands separators, as every table shows counts. */
export const number = (n: number): string => Math.round(n).toLocaleString("en-US");

/** `part` as a whole percentage of `whole`, as every table shows shares. */
export const percent = (part: number, whole: number): string =>
  `${((100 * part) / whole).toFixed(0)} %`;
