/**
 * Prometheus' text exposition format (version 0.0.4): metric families with HELP and TYPE, then
 * their samples. Label values are escaped; every family is written once.
 */
export type Labels = Record<string, string | number | boolean>;

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const number = (v: number) => (v === Number.POSITIVE_INFINITY ? "+Inf" : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(12))));

export class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${escape(String(v))}"`)
      .join(",");
    this.lines.push(`${name}${l ? `{${l}}` : ""} ${number(value)}`);
    return this;
  }

  /** A histogram's cumulative buckets, sum and count for one set of labels. */
  histogram(name: string, labels: Labels, h: Histogram): this {
    let cumulative = 0;
    h.bounds.forEach((le, i) => {
      cumulative += h.counts[i]!;
      this.sample(`${name}_bucket`, { ...labels, le }, cumulative);
    });
    this.sample(`${name}_bucket`, { ...labels, le: "+Inf" }, h.count);
    this.sample(`${name}_sum`, labels, h.sum);
    return this.sample(`${name}_count`, labels, h.count);
  }

  toString(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

/** Counts of observations at or below each bound (not cumulative until written), their sum and count. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) {
      if (v <= this.bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}
