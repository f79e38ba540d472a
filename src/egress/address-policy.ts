import { BlockList, isIP } from 'node:net';

/**
 * Which network destinations an outbound call a tenant can aim (token endpoints, userinfo) may
 * reach. The threat is SSRF: a tenant writes `http://169.254.169.254/…` or a name that resolves
 * to 10.0.0.5 as its token endpoint and makes the server fetch from inside the network. Every
 * special-purpose range (RFC 6890 and its IPv6 counterparts) is refused unless the operator
 * allows it explicitly (`LATCHKEY_EGRESS_ALLOW`).
 */

export interface IpAddress {
  family: 4 | 6;
  /** Canonical text as given to the socket (no brackets, no zone). */
  text: string;
}

/** Parses an IPv4 or IPv6 literal (brackets and a zone id are tolerated); null for anything else. */
export function parseIp(input: string): IpAddress | null {
  let text = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const family = isIP(text);
  return family === 4 || family === 6 ? { family, text } : null;
}

/**
 * Address ranges on the platform's matcher (net.BlockList), one per family. Node's BlockList
 * compares IPv4 and IPv4-mapped IPv6 as one address (a rule for ::ffff:0:0/96 matches 127.0.0.1,
 * one for 10.0.0.0/8 matches ::ffff:10.0.0.1, ::/0 matches every IPv4 address): an address is
 * checked against the rules of its own family only, so ::ffff:10.0.0.1 stays refused as
 * IPv4-mapped and an allowed IPv4 range does not let its mapped form through.
 */
class Ranges {
  private readonly lists = { 4: new BlockList(), 6: new BlockList() };
  private count = 0;

  /** Adds "10.0.0.0/8", "::1/128" or a single address; false when the text is none of them. */
  add(text: string): boolean {
    const [addr, bitsText, more] = text.split('/');
    if (addr === undefined || more !== undefined) return false;
    const ip = parseIp(addr);
    if (!ip) return false;
    const max = ip.family === 4 ? 32 : 128;
    const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
    if (!Number.isInteger(bits) || bits < 0 || bits > max) return false;
    this.lists[ip.family].addSubnet(ip.text, bits, ip.family === 4 ? 'ipv4' : 'ipv6');
    this.count += 1;
    return true;
  }

  has(ip: IpAddress): boolean {
    return this.count > 0 && this.lists[ip.family].check(ip.text, ip.family === 4 ? 'ipv4' : 'ipv6');
  }

  get empty(): boolean {
    return this.count === 0;
  }
}

function table(rows: Array<[string, string]>): Array<{ ranges: Ranges; reason: string }> {
  return rows.map(([text, reason]) => {
    const ranges = new Ranges();
    if (!ranges.add(text)) throw new Error(`bad range ${text}`);
    return { ranges, reason };
  });
}

// RFC 6890 / IANA special-purpose registries. Order matters only for the reason reported.
const V4_SPECIAL_ROWS: Array<[string, string]> = [
  ['0.0.0.0/8', 'unspecified ("this network")'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata)'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignment'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved or broadcast'],
];
const V4_SPECIAL = table(V4_SPECIAL_ROWS);

const V6_SPECIAL = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::ffff:0:0/96', 'IPv4-mapped'],
  ['::/96', 'IPv4-compatible'],
  ['64:ff9b:1::/48', 'local NAT64'],
  ['100::/64', 'discard'],
  ['2001::/32', 'Teredo'],
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', '6to4'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
]);

/**
 * NAT64 addresses (64:ff9b::/96, what DNS64 hands out on IPv6-only networks) are judged by the
 * IPv4 address they carry, so a public site stays reachable and 64:ff9b::a9fe:a9fe does not
 * become a way around the metadata block: each IPv4 range is also refused inside 64:ff9b::/96.
 */
const NAT64_SPECIAL = table(
  V4_SPECIAL_ROWS.map(([cidr, reason]) => {
    const [addr, bits] = cidr.split('/');
    return [`64:ff9b::${addr}/${96 + Number(bits)}`, `NAT64 of ${reason}`];
  }),
);
const V6_AND_NAT64_SPECIAL = [...NAT64_SPECIAL, ...V6_SPECIAL];

/** Why an address is not a public unicast destination, or null when it is. */
export function specialPurpose(ip: IpAddress): string | null {
  const rows = ip.family === 4 ? V4_SPECIAL : V6_AND_NAT64_SPECIAL;
  return rows.find((row) => row.ranges.has(ip))?.reason ?? null;
}

const HOST_RE = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * The operator's exceptions: CIDRs (`10.1.0.0/16`, `::1/128`), single addresses, host names
 * (`idp.corp.example`) and host suffixes (`*.corp.example`). A listed destination may be private
 * and may be spoken to over plain http; nothing else may.
 */
export class EgressAllowList {
  private readonly ranges = new Ranges();
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      if (this.ranges.add(entry)) continue;
      if (HOST_RE.test(entry) && entry.length <= 253) {
        if (entry.startsWith('*.')) this.suffixes.push(entry.slice(1));
        else this.hosts.add(entry);
      } else throw new Error(`"${raw.trim()}" is neither a CIDR, an IP address nor a host name`);
    }
  }

  /** Parses a comma-separated list (the environment variable's format). */
  static parse(text: string | undefined): EgressAllowList {
    return new EgressAllowList((text ?? '').split(','));
  }

  get empty(): boolean {
    return this.ranges.empty && this.hosts.size === 0 && this.suffixes.length === 0;
  }

  allowsHost(hostname: string): boolean {
    const h = hostname.toLowerCase().replace(/\.$/, '');
    return this.hosts.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  allowsAddress(ip: IpAddress): boolean {
    return this.ranges.has(ip);
  }
}
