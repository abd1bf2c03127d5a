// Settings come from the environment, parsed once when a module that needs them loads, so a
// function with a missing or malformed secret fails at start with that secret's name rather
// than on the first request that happens to need it.
import { z } from "zod";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Parses the named environment variables with `shape`; throws ConfigError naming each bad one. */
export function readEnv<S extends z.ZodRawShape>(
  shape: S,
  source: Record<string, string> = Deno.env.toObject(),
): z.output<z.ZodObject<S>> {
  const values = Object.fromEntries(
    Object.keys(shape).map((name) => [name, source[name] === "" ? undefined : source[name]]),
  );
  const result = z.object(shape).safeParse(values);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    return values[name] === undefined ? `${name} is not set` : `${name} ${issue.message}`;
  });
  throw new ConfigError(`configuration: ${problems.join("; ")}`);
}
