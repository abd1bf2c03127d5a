// A webhook receiver for tests: an HTTPS server on 127.0.0.1 (workflow webhook URLs must be
// https://) with a throwaway CA made by openssl, recording every request and answering what
// the test scripts per path. The dispatcher trusts the CA through BEACON_WEBHOOK_CA_FILE,
// as a self-hosted receiver behind an internal CA would be trusted.

export type ReceivedWebhook = {
  path: string;
  headers: Headers;
  body: string;
};

/** An answer for a path: a status with optional headers and body, or a delay before 200. */
export type Answer = {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
};

export type WebhookReceiver = {
  /** https://localhost:<port> */
  url: string;
  caFile: string;
  received: ReceivedWebhook[];
  answer(path: string, ...answers: Answer[]): void;
  close(): Promise<void>;
};

async function openssl(...args: string[]) {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (code !== 0) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`,
    );
  }
}

/** A CA and a certificate for localhost and 127.0.0.1 signed by it, valid for a day. */
async function makeCertificates(dir: string) {
  const curve = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
  ];
  await openssl(
    "req",
    "-x509",
    ...curve,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
    "-days",
    "1",
    "-subj",
    "/CN=Beacon test CA",
  );
  await openssl(
    "req",
    ...curve,
    "-keyout",
    `${dir}/leaf.key`,
    "-out",
    `${dir}/leaf.csr`,
    "-subj",
    "/CN=localhost",
  );
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
  );
  await openssl(
    "x509",
    "-req",
    "-in",
    `${dir}/leaf.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-out",
    `${dir}/leaf.pem`,
    "-days",
    "1",
    "-extfile",
    `${dir}/leaf.ext`,
  );
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const dir = await Deno.makeTempDir({ prefix: "beacon-webhook-receiver-" });
  await makeCertificates(dir);
  const received: ReceivedWebhook[] = [];
  const scripted = new Map<string, Answer[]>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(`${dir}/leaf.pem`),
    key: await Deno.readTextFile(`${dir}/leaf.key`),
    onListen: () => {},
  }, async (request) => {
    const path = new URL(request.url).pathname;
    received.push({
      path,
      headers: new Headers(request.headers),
      body: await request.text(),
    });
    const queue = scripted.get(path) ?? [];
    const answer = queue.length > 1 ? queue.shift()! : queue[0] ?? { status: 200, body: "ok" };
    if (answer.delayMs) {
      await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    }
    return new Response(answer.body ?? null, {
      status: answer.status,
      headers: answer.headers,
    });
  });
  return {
    url: `https://localhost:${server.addr.port}`,
    caFile: `${dir}/ca.pem`,
    received,
    answer: (path, ...answers) => scripted.set(path, answers),
    close: async () => {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
