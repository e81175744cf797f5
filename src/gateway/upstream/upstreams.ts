import type { Config } from "../../config/load";
import { UpstreamRegistry, type RegistryOptions } from "./registry";
import { Traffic } from "./traffic";

/** The upstream side of the gateway: keys and breakers (registry) and requests in flight (traffic). */
export interface Upstreams {
  registry: UpstreamRegistry;
  traffic: Traffic;
}

export function createUpstreams(config: Config, opts: RegistryOptions = {}): Upstreams {
  return { registry: new UpstreamRegistry(config, opts), traffic: new Traffic(config.max_concurrent_streams) };
}
