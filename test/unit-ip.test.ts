import { expect, test } from "bun:test";
import { isIP } from "node:net";
import { ipVersion } from "../src/lib/ip";

// ipVersion stands in for node:net's isIP so that start-up does not load node:net (3 MiB of RSS).
test("ipVersion agrees with node:net's isIP", () => {
  const cases = [
    "0.0.0.0", "127.0.0.1", "255.255.255.255", "256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4%eth0", "999.999.999.999",
    "::", "::1", "fe80::1%eth0", "fe80::1%", "fe80::1%eth 0", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
    "1::2::3", ":::", "::g", "2001:db8::", "[::1]", "127.0.0.1:8080", "localhost", "gw.example", "",
  ];
  for (const c of cases) expect([c, ipVersion(c) as number]).toEqual([c, isIP(c)]);
});
