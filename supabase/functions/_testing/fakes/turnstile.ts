// A fake of Cloudflare Turnstile's siteverify (see _shared/providers/turnstile.ts): the sites'
// secret keys are given at start, tokens are issued per secret by `issue(secret)` and valid
// once; answers carry the real fields.
// Errors as Turnstile names them: missing-input-secret, invalid-input-secret (a secret never
// issued for), missing-input-response, invalid-input-response, timeout-or-duplicate (reused).

export function startTurnstileFake(siteSecrets: string[]) {
  /** token → the secret it was issued for. */
  const issued = new Map<string, string>();
  const used = new Set<string>();
  const secrets = new Set(siteSecrets);
  const calls: { secret: string | null; response: string | null; remoteip: string | null }[] = [];

  const answer = (success: boolean, errors: string[] = []) =>
    Response.json(
      success
        ? {
          success,
          challenge_ts: new Date().toISOString(),
          hostname: "example.com",
          "error-codes": [],
          action: "",
          cdata: "",
        }
        : { success, "error-codes": errors },
    );

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "POST" || path !== "/turnstile/v0/siteverify") {
      return new Response("not found", { status: 404 });
    }
    const form = new URLSearchParams(await req.text());
    const secret = form.get("secret");
    const response = form.get("response");
    calls.push({ secret, response, remoteip: form.get("remoteip") });
    if (!secret) return answer(false, ["missing-input-secret"]);
    if (!secrets.has(secret)) return answer(false, ["invalid-input-secret"]);
    if (!response) return answer(false, ["missing-input-response"]);
    if (issued.get(response) !== secret) return answer(false, ["invalid-input-response"]);
    if (used.has(response)) return answer(false, ["timeout-or-duplicate"]);
    used.add(response);
    return answer(true);
  });

  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    calls,
    /** A widget token for a site whose secret key is `secret`. */
    issue(secret: string): string {
      const token = `0.${crypto.randomUUID()}`;
      issued.set(token, secret);
      return token;
    },
    close: () => server.shutdown(),
  };
}

export type TurnstileFake = ReturnType<typeof startTurnstileFake>;
