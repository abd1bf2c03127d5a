// The SSRF table: every reserved range with addresses at its edges (refused, naming that
// range) and just outside them (not refused for that range), and public addresses that pass.
import assert from "node:assert/strict";
import { isIpAddress, reservedRange } from "./addresses.ts";

type Row = { range: string; inside: string[]; outside: string[] };

const TABLE: Row[] = [
  {
    range: "0.0.0.0/8",
    inside: ["0.0.0.0", "0.255.255.255"],
    outside: ["1.0.0.0"],
  },
  {
    range: "10.0.0.0/8",
    inside: ["10.0.0.0", "10.1.2.3", "10.255.255.255"],
    outside: ["9.255.255.255", "11.0.0.0"],
  },
  {
    range: "100.64.0.0/10",
    inside: ["100.64.0.0", "100.127.255.255"],
    outside: ["100.63.255.255", "100.128.0.0"],
  },
  {
    range: "127.0.0.0/8",
    inside: ["127.0.0.1", "127.255.255.255"],
    outside: ["126.255.255.255", "128.0.0.0"],
  },
  {
    range: "169.254.0.0/16",
    inside: ["169.254.0.0", "169.254.169.254", "169.254.255.255"],
    outside: ["169.253.255.255", "169.255.0.0"],
  },
  {
    range: "172.16.0.0/12",
    inside: ["172.16.0.0", "172.31.255.255"],
    outside: ["172.15.255.255", "172.32.0.0"],
  },
  {
    range: "192.0.0.0/24",
    inside: ["192.0.0.0", "192.0.0.255"],
    outside: ["191.255.255.255", "192.0.1.0"],
  },
  {
    range: "192.0.2.0/24",
    inside: ["192.0.2.0", "192.0.2.255"],
    outside: ["192.0.1.255", "192.0.3.0"],
  },
  {
    range: "192.88.99.0/24",
    inside: ["192.88.99.0", "192.88.99.255"],
    outside: ["192.88.98.255", "192.88.100.0"],
  },
  {
    range: "192.168.0.0/16",
    inside: ["192.168.0.0", "192.168.255.255"],
    outside: ["192.167.255.255", "192.169.0.0"],
  },
  {
    range: "198.18.0.0/15",
    inside: ["198.18.0.0", "198.19.255.255"],
    outside: ["198.17.255.255", "198.20.0.0"],
  },
  {
    range: "198.51.100.0/24",
    inside: ["198.51.100.0", "198.51.100.255"],
    outside: ["198.51.99.255", "198.51.101.0"],
  },
  {
    range: "203.0.113.0/24",
    inside: ["203.0.113.0", "203.0.113.255"],
    outside: ["203.0.112.255", "203.0.114.0"],
  },
  {
    range: "224.0.0.0/4",
    inside: ["224.0.0.0", "239.255.255.255"],
    outside: ["223.255.255.255", "240.0.0.0"],
  },
  {
    range: "240.0.0.0/4",
    inside: ["240.0.0.0", "255.255.255.254", "255.255.255.255"],
    outside: ["239.255.255.255"],
  },
  { range: "::/128", inside: ["::", "0:0:0:0:0:0:0:0"], outside: ["::1"] },
  { range: "::1/128", inside: ["::1", "0::0:1"], outside: ["::", "::2"] },
  {
    range: "::/96",
    inside: ["::2", "::10.0.0.1", "::8.8.8.8", "::ffff:ffff"],
    outside: ["::1:0:0", "::ffff:8.8.8.8"],
  },
  {
    range: "::ffff:0:0/96",
    inside: [
      "::ffff:10.0.0.1",
      "::ffff:a00:1",
      "::ffff:127.0.0.1",
      "::ffff:0:0",
    ],
    outside: ["::fffe:ffff:ffff", "::1:0:0:0"],
  },
  {
    range: "64:ff9b::/96",
    inside: ["64:ff9b::10.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::127.0.0.1"],
    outside: ["64:ff9b::1:0:0", "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff"],
  },
  {
    range: "64:ff9b:1::/48",
    inside: [
      "64:ff9b:1::",
      "64:ff9b:1::8.8.8.8",
      "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
    ],
    outside: ["64:ff9b:2::", "64:ff9b:0:ffff:ffff:ffff:ffff:ffff"],
  },
  {
    range: "2002::/16",
    inside: ["2002:a00:1::", "2002:7f00:1::1", "2002:c0a8:101::"],
    outside: [
      "2002:808:808::",
      "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "2003::",
    ],
  },
  {
    range: "100::/64",
    inside: ["100::", "100::ffff:ffff:ffff:ffff"],
    outside: ["100:0:0:1::", "ff::ffff"],
  },
  {
    range: "2001::/23",
    inside: [
      "2001::",
      "2001:0:4136:e378:8000:63bf:3fff:fdd2",
      "2001:1ff:ffff::",
    ],
    outside: ["2001:200::", "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  },
  {
    range: "2001:db8::/32",
    inside: ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"],
  },
  {
    range: "3fff::/20",
    inside: ["3fff::", "3fff:fff:ffff::"],
    outside: ["3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::"],
  },
  {
    range: "fc00::/7",
    inside: [
      "fc00::",
      "fd12:3456:789a::1",
      "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ],
    outside: ["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::"],
  },
  {
    range: "fe80::/10",
    inside: [
      "fe80::",
      "fe80::1%eth0",
      "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ],
    outside: ["fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::"],
  },
  {
    range: "fec0::/10",
    inside: ["fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::"],
  },
  {
    range: "ff00::/8",
    inside: ["ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    outside: ["feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  },
];

for (const { range, inside, outside } of TABLE) {
  Deno.test(`reservedRange: ${range}, at its edges and just outside`, () => {
    for (const address of inside) {
      const found = reservedRange(address);
      assert.ok(
        found?.includes(`${range} (`),
        `${address} is in ${range}, not: ${found}`,
      );
    }
    for (const address of outside) {
      const found = reservedRange(address);
      assert.ok(
        !found?.includes(`${range} (`),
        `${address} is outside ${range}, not: ${found}`,
      );
    }
  });
}

Deno.test("reservedRange: IPv4 inside IPv6 is judged by the IPv4 address", () => {
  assert.equal(
    reservedRange("::ffff:10.0.0.1"),
    "::ffff:0:0/96 (IPv4-mapped) of 10.0.0.0/8 (private network)",
  );
  assert.equal(
    reservedRange("64:ff9b::169.254.169.254"),
    "64:ff9b::/96 (NAT64) of 169.254.0.0/16 (link-local, cloud metadata)",
  );
  assert.equal(
    reservedRange("2002:7f00:1::"),
    "2002::/16 (6to4) of 127.0.0.0/8 (loopback)",
  );
  for (
    const address of [
      "::ffff:8.8.8.8",
      "::ffff:808:808",
      "64:ff9b::1.1.1.1",
      "2002:808:808::1",
    ]
  ) {
    assert.equal(reservedRange(address), null, address);
  }
});

Deno.test("reservedRange: public addresses pass", () => {
  for (
    const address of [
      "8.8.8.8",
      "1.1.1.1",
      "93.184.215.14",
      "172.32.0.1",
      "192.169.0.1",
      "100.128.0.1",
      "223.255.255.255",
      "2606:4700:4700::1111",
      "2a00:1450:4001:81c::200e",
      "2001:4860:4860::8888",
    ]
  ) assert.equal(reservedRange(address), null, address);
});

Deno.test("reservedRange: what is not an address is refused; other IPv6 outside 2000::/3 too", () => {
  for (
    const text of [
      "",
      "example.com",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "1::2::3",
      "12345::",
    ]
  ) {
    assert.ok(reservedRange(text), `${text} is refused`);
    assert.equal(isIpAddress(text), false, `${text} is not an address`);
  }
  assert.equal(
    reservedRange("4000::1"),
    "outside 2000::/3 (not global unicast)",
  );
  assert.equal(reservedRange("1::"), "outside 2000::/3 (not global unicast)");
  assert.equal(isIpAddress("::ffff:10.0.0.1"), true);
  assert.equal(isIpAddress("10.0.0.1"), true);
});
