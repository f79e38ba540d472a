import { isIP } from 'node:net';

/**
 * Which network destinations an outbound call a tenant can aim (token endpoints, userinfo) may
 * reach. The threat is SSRF: a tenant writes `http://169.254.169.254/…` or a name that resolves
 * to 10.0.0.5 as its token endpoint and makes the server fetch from inside the network. Every
 * special-purpose range (RFC 6890 and its IPv6 counterparts) is refused unless the operator
 * allows it explicitly (`LATCHKEY_EGRESS_ALLOW`).
 */

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
  /** Canonical text as given to the socket (no brackets, no zone). */
  text: string;
}

interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

function v4Value(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6Value(text: string): bigint {
  let s = text;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    // An embedded dotted quad (::ffff:10.0.0.1) is the last two groups.
    const v = Number(v4Value(tail));
    s = `${s.slice(0, lastColon + 1)}${((v >>> 16) & 0xffff).toString(16)}:${(v & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length > 1 ? (halves[1] ? halves[1].split(':') : []) : null;
  const groups = rest === null ? head : [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses an IPv4 or IPv6 literal (brackets and a zone id are tolerated); null for anything else. */
export function parseIp(input: string): IpAddress | null {
  let text = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const family = isIP(text);
  if (family === 4) return { family: 4, value: v4Value(text), text };
  if (family === 6) return { family: 6, value: v6Value(text), text };
  return null;
}

function parseCidr(text: string): Cidr | null {
  const [addr, bitsText, more] = text.split('/');
  if (addr === undefined || more !== undefined) return null;
  const ip = parseIp(addr);
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return null;
  const shift = BigInt(max - bits);
  return { family: ip.family, base: (ip.value >> shift) << shift, bits };
}

function contains(c: Cidr, ip: IpAddress): boolean {
  if (c.family !== ip.family) return false;
  const shift = BigInt((c.family === 4 ? 32 : 128) - c.bits);
  return ip.value >> shift === c.base >> shift;
}

function table(rows: Array<[string, string]>): Array<{ cidr: Cidr; reason: string }> {
  return rows.map(([text, reason]) => {
    const cidr = parseCidr(text);
    if (!cidr) throw new Error(`bad range ${text}`);
    return { cidr, reason };
  });
}

// RFC 6890 / IANA special-purpose registries. Order matters only for the reason reported.
const V4_SPECIAL = table([
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
]);

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

const NAT64 = parseCidr('64:ff9b::/96') as Cidr;

/**
 * Why an address is not a public unicast destination, or null when it is. NAT64 addresses
 * (64:ff9b::/96, what DNS64 hands out on IPv6-only networks) are judged by the IPv4 address
 * they carry, so a public site stays reachable and 64:ff9b::a9fe:a9fe does not become a way
 * around the metadata block.
 */
export function specialPurpose(ip: IpAddress): string | null {
  if (ip.family === 6 && contains(NAT64, ip)) {
    const v4 = ip.value & 0xffffffffn;
    const inner: IpAddress = { family: 4, value: v4, text: '' };
    const r = V4_SPECIAL.find((row) => contains(row.cidr, inner));
    return r ? `NAT64 of ${r.reason}` : null;
  }
  const rows = ip.family === 4 ? V4_SPECIAL : V6_SPECIAL;
  return rows.find((row) => contains(row.cidr, ip))?.reason ?? null;
}

const HOST_RE = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * The operator's exceptions: CIDRs (`10.1.0.0/16`, `::1/128`), single addresses, host names
 * (`idp.corp.example`) and host suffixes (`*.corp.example`). A listed destination may be private
 * and may be spoken to over plain http; nothing else may.
 */
export class EgressAllowList {
  private readonly cidrs: Cidr[] = [];
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      const cidr = parseCidr(entry);
      if (cidr) this.cidrs.push(cidr);
      else if (HOST_RE.test(entry) && entry.length <= 253) {
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
    return this.cidrs.length === 0 && this.hosts.size === 0 && this.suffixes.length === 0;
  }

  allowsHost(hostname: string): boolean {
    const h = hostname.toLowerCase().replace(/\.$/, '');
    return this.hosts.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  allowsAddress(ip: IpAddress): boolean {
    return this.cidrs.some((c) => contains(c, ip));
  }
}
