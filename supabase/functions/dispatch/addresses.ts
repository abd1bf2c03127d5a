// Which IP addresses a workflow webhook may be sent to: none that is reserved for the
// machine itself, a private network, a link-local or multicast scope, documentation or
// benchmarking, nor an IPv6 form that carries a reserved IPv4 address inside it (IPv4-mapped,
// NAT64, 6to4). The ranges follow the IANA special-purpose address registries; an IPv6
// address outside global unicast (2000::/3) is refused too, whatever IANA did with it.
//
// reservedRange("10.1.2.3") → "10.0.0.0/8 (private network)"; reservedRange("8.8.8.8") → null.

type Range = { network: bigint; prefix: number; name: string };

const V4_BITS = 32;
const V6_BITS = 128;

/** The address as a number, or undefined when `text` is not an IPv4 dotted quad. */
function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

/** The address as a number, or undefined when `text` is not IPv6 (a zone id is ignored). */
function parseIpv6(text: string): bigint | undefined {
  let rest = text.replace(/%.*$/, "");
  if (!rest.includes(":")) return undefined;
  // A dotted IPv4 tail (::ffff:10.0.0.1) is two groups.
  const tail = rest.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  let tailGroups: string[] = [];
  if (tail) {
    const v4 = parseIpv4(tail[2]);
    if (v4 === undefined) return undefined;
    tailGroups = [(v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
    rest = tail[1].endsWith("::") ? tail[1] : tail[1].slice(0, -1);
  }
  const halves = rest.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groupsOf(halves[0]);
  const back = [
    ...(halves.length === 2 ? groupsOf(halves[1]) : []),
    ...tailGroups,
  ];
  const missing = 8 - head.length - back.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [
    ...head,
    ...Array(halves.length === 2 ? missing : 0).fill("0"),
    ...back,
  ];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

function range(cidr: string, name: string, bits: number): Range {
  const [address, prefix] = cidr.split("/");
  const network = bits === V4_BITS ? parseIpv4(address) : parseIpv6(address);
  if (network === undefined) throw new Error(`not an address: ${cidr}`);
  return { network, prefix: Number(prefix), name: `${cidr} (${name})` };
}

const IPV4_RESERVED: Range[] = [
  ["0.0.0.0/8", "this network"],
  ["10.0.0.0/8", "private network"],
  ["100.64.0.0/10", "carrier-grade NAT"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local, cloud metadata"],
  ["172.16.0.0/12", "private network"],
  ["192.0.0.0/24", "IETF protocol assignments"],
  ["192.0.2.0/24", "documentation"],
  ["192.88.99.0/24", "6to4 relay anycast"],
  ["192.168.0.0/16", "private network"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation"],
  ["203.0.113.0/24", "documentation"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved, and the broadcast address"],
].map(([cidr, name]) => range(cidr, name, V4_BITS));

const IPV6_RESERVED: Range[] = [
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::/96", "IPv4-compatible, deprecated"],
  ["64:ff9b:1::/48", "local-use NAT64"],
  ["100::/64", "discard"],
  ["2001::/23", "IETF protocol assignments, Teredo"],
  ["2001:db8::/32", "documentation"],
  ["3fff::/20", "documentation"],
  ["fc00::/7", "unique-local"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "site-local"],
  ["ff00::/8", "multicast"],
].map(([cidr, name]) => range(cidr, name, V6_BITS));

const GLOBAL_UNICAST = range("2000::/3", "global unicast", V6_BITS);

/** IPv6 prefixes that carry an IPv4 address: judged by that address. */
const IPV6_EMBEDDING: { range: Range; extract: (value: bigint) => bigint }[] = [
  {
    range: range("::ffff:0:0/96", "IPv4-mapped", V6_BITS),
    extract: (v) => v & 0xffffffffn,
  },
  {
    range: range("64:ff9b::/96", "NAT64", V6_BITS),
    extract: (v) => v & 0xffffffffn,
  },
  {
    range: range("2002::/16", "6to4", V6_BITS),
    extract: (v) => (v >> 80n) & 0xffffffffn,
  },
];

const within = (value: bigint, r: Range, bits: number) =>
  value >> BigInt(bits - r.prefix) === r.network >> BigInt(bits - r.prefix);

function reservedIpv4(value: bigint): string | null {
  return IPV4_RESERVED.find((r) => within(value, r, V4_BITS))?.name ?? null;
}

/** Whether `text` is an IPv4 or IPv6 address (not a host name). */
export function isIpAddress(text: string): boolean {
  return parseIpv4(text) !== undefined || parseIpv6(text) !== undefined;
}

/**
 * The reserved range `address` falls in, described ("10.0.0.0/8 (private network)"), or null
 * for an address on the public internet. Anything that is not an address counts as reserved.
 */
export function reservedRange(address: string): string | null {
  const v4 = parseIpv4(address);
  if (v4 !== undefined) return reservedIpv4(v4);
  const v6 = parseIpv6(address);
  if (v6 === undefined) return `${address} (not an IP address)`;
  for (const { range: r, extract } of IPV6_EMBEDDING) {
    if (within(v6, r, V6_BITS)) {
      const inner = reservedIpv4(extract(v6));
      return inner ? `${r.name} of ${inner}` : null;
    }
  }
  return IPV6_RESERVED.find((r) => within(v6, r, V6_BITS))?.name ??
    (within(v6, GLOBAL_UNICAST, V6_BITS) ? null : "outside 2000::/3 (not global unicast)");
}
