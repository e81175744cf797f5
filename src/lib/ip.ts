/**
 * An IP address's version (4 or 6; an IPv6 zone, fe80::1%eth0, allowed), or 0 when the text is
 * none: node:net's isIP, without loading node:net (and Node's streams with it) at start-up.
 */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (IPV4.test(text)) return 4;
  const zone = text.indexOf("%");
  const address = zone < 0 ? text : text.slice(0, zone);
  if (zone >= 0 && !/^[0-9A-Za-z_.-]+$/.test(text.slice(zone + 1))) return 0;
  if (!address.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(address)) return 0;
  // The URL parser knows IPv6's forms (::, embedded IPv4, at most one ::).
  return URL.canParse(`http://[${address}]/`) ? 6 : 0;
}

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);
