// Where a webhook may go: every address a name resolves to is checked; a literal address is
// checked without asking any resolver; the escape hatch lets everything through, resolved.
import assert from "node:assert/strict";
import { connectionProblem, type Resolver, resolveReceiver } from "./receivers.ts";

function resolver(addresses: string[]) {
  const asked: string[] = [];
  const resolve: Resolver = (hostname) => {
    asked.push(hostname);
    return Promise.resolve(
      addresses.map((
        address,
      ) => ({ address, family: address.includes(":") ? 6 : 4 } as const)),
    );
  };
  return { asked, resolve };
}

const PUBLIC_ONLY = "webhooks go to public hosts only";

Deno.test("resolveReceiver: a name with public addresses only is sent to those addresses", async () => {
  const { asked, resolve } = resolver([
    "93.184.215.14",
    "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
  ]);
  assert.deepEqual(
    await resolveReceiver(
      new URL("https://Hooks.Example.com./in"),
      resolve,
      false,
    ),
    {
      addresses: [
        { address: "93.184.215.14", family: 4 },
        { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
      ],
    },
  );
  assert.deepEqual(
    asked,
    ["hooks.example.com"],
    "asked once, for the bare lower-case name",
  );
});

Deno.test("resolveReceiver: one reserved address among the resolved ones refuses the name", async () => {
  for (
    const reserved of [
      "10.0.0.7",
      "169.254.169.254",
      "fd00::1",
      "64:ff9b::7f00:1",
    ]
  ) {
    const { resolve } = resolver(["93.184.215.14", reserved]);
    const destination = await resolveReceiver(
      new URL("https://hooks.example.com/"),
      resolve,
      false,
    );
    assert.ok("problem" in destination && !destination.retry, reserved);
    assert.match(
      destination.problem,
      new RegExp(
        `^hooks\\.example\\.com resolves to a reserved address .*: ${PUBLIC_ONLY}$`,
      ),
    );
  }
});

Deno.test("resolveReceiver: literal addresses are checked as they are, with no resolver", async () => {
  const { asked, resolve } = resolver([]);
  assert.deepEqual(
    await resolveReceiver(
      new URL("https://[::ffff:10.0.0.1]/"),
      resolve,
      false,
    ),
    {
      problem: "::ffff:a00:1 is a reserved address (::ffff:0:0/96 (IPv4-mapped) of 10.0.0.0/8 " +
        `(private network)): ${PUBLIC_ONLY}`,
      retry: false,
    },
  );
  assert.deepEqual(
    await resolveReceiver(new URL("https://0x7f.1/"), resolve, false),
    {
      problem: `127.0.0.1 is a reserved address (127.0.0.0/8 (loopback)): ${PUBLIC_ONLY}`,
      retry: false,
    },
  );
  assert.deepEqual(
    await resolveReceiver(new URL("https://8.8.8.8:8443/"), resolve, false),
    {
      addresses: [{ address: "8.8.8.8", family: 4 }],
    },
  );
  assert.deepEqual(
    await resolveReceiver(
      new URL("https://[2001:4860::8888]/"),
      resolve,
      false,
    ),
    {
      addresses: [{ address: "2001:4860::8888", family: 6 }],
    },
  );
  assert.deepEqual(asked, []);
});

Deno.test("resolveReceiver: localhost names, unresolvable names, and the escape hatch", async () => {
  const { resolve } = resolver([]);
  assert.deepEqual(
    await resolveReceiver(new URL("https://api.localhost/"), resolve, false),
    {
      problem: `api.localhost is a loopback name: ${PUBLIC_ONLY}`,
      retry: false,
    },
  );
  assert.deepEqual(
    await resolveReceiver(new URL("https://gone.example/"), resolve, false),
    {
      problem: "gone.example could not be resolved to an address",
      retry: true,
    },
  );
  const failing: Resolver = () => Promise.reject(new Error("SERVFAIL"));
  assert.deepEqual(
    await resolveReceiver(new URL("https://gone.example/"), failing, false),
    {
      problem: "gone.example could not be resolved to an address",
      retry: true,
    },
  );
  const hanging: Resolver = () => new Promise(() => {});
  assert.deepEqual(await resolveReceiver(new URL("https://slow.example/"), hanging, false, 50), {
    problem: "slow.example could not be resolved to an address",
    retry: true,
  });
  const local = resolver(["127.0.0.1", "::1"]);
  assert.deepEqual(
    await resolveReceiver(
      new URL("https://localhost:8443/"),
      local.resolve,
      true,
    ),
    {
      addresses: [{ address: "127.0.0.1", family: 4 }, {
        address: "::1",
        family: 6,
      }],
    },
  );
});

Deno.test("connectionProblem: fixed reasons that quote nothing from the far end", () => {
  const url = new URL("https://hooks.example.com/in");
  const cases: [unknown, string][] = [
    [
      { name: "TimeoutError" },
      "no answer from https://hooks.example.com/in within 10 s",
    ],
    [{ code: "ECONNREFUSED" }, "hooks.example.com refused the connection"],
    [{ code: "ECONNRESET" }, "the connection to hooks.example.com was cut"],
    [{ code: "ENETUNREACH" }, "hooks.example.com is unreachable"],
    [
      {
        code: "ERR_TLS_CERT_ALTNAME_INVALID",
        message: "Host: hooks.example.com. is not in the cert's altnames: DNS:secret.internal",
      },
      "hooks.example.com's TLS certificate is not trusted or not issued for hooks.example.com",
    ],
    [
      { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
      "hooks.example.com's TLS certificate is not trusted or not issued for hooks.example.com",
    ],
    [
      new Error("something else entirely"),
      "could not reach https://hooks.example.com/in",
    ],
  ];
  for (const [err, reason] of cases) {
    assert.equal(connectionProblem(err, url, 10_000), reason);
  }
});
