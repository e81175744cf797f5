/**
 * A breaker's recent outcomes (time, success, account) in a fixed ring: recording one under load
 * allocates nothing and moves nothing, where an array of objects cost an object per call and a
 * shift of the whole window once it was full.
 */
export class OutcomeWindow {
  private readonly at: Float64Array;
  private readonly ok: Uint8Array;
  private readonly account: (string | undefined)[];
  private head = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.at = new Float64Array(capacity);
    this.ok = new Uint8Array(capacity);
    this.account = new Array<string | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds an outcome; the oldest is dropped when the ring is full. */
  push(at: number, ok: boolean, account: string): void {
    if (this.count === this.capacity) this.dropOldest();
    const i = (this.head + this.count) % this.capacity;
    this.at[i] = at;
    this.ok[i] = ok ? 1 : 0;
    this.account[i] = account;
    this.count++;
  }

  /** Drops the outcomes older than `from` (they are in time order). */
  dropBefore(from: number): void {
    while (this.count > 0 && this.at[this.head]! < from) this.dropOldest();
  }

  failures(): number {
    let n = 0;
    for (let k = 0; k < this.count; k++) n += 1 - this.ok[(this.head + k) % this.capacity]!;
    return n;
  }

  /** Whether the failures came from at least `need` distinct accounts. */
  failingAccounts(need: number): boolean {
    const failing = new Set<string>();
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % this.capacity;
      if (!this.ok[i] && failing.add(this.account[i]!).size >= need) return true;
    }
    return false;
  }

  /**
   * Calls and failures without the account that has the most failures (ties: the first to
   * reach that count); the latest run of failures (newest back to the last success) without its
   * own most failing account; and how many distinct accounts failed. Only failures call it.
   */
  withoutTopFailer(): { requests: number; failures: number; streak: number; accounts: number } {
    const perAccount = new Map<string, number>();
    let top: string | undefined;
    let topFailures = 0;
    let failures = 0;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % this.capacity;
      if (this.ok[i]) continue;
      const a = this.account[i]!;
      const n = (perAccount.get(a) ?? 0) + 1;
      perAccount.set(a, n);
      failures++;
      if (n > topFailures) {
        top = a;
        topFailures = n;
      }
    }
    let topRequests = 0;
    if (top !== undefined) for (let k = 0; k < this.count; k++) if (this.account[(this.head + k) % this.capacity] === top) topRequests++;
    return { requests: this.count - topRequests, failures: failures - topFailures, streak: this.runWithoutTop(), accounts: perAccount.size };
  }

  /** The newest run of failures, without the account with the most failures in it. */
  private runWithoutTop(): number {
    const inRun = new Map<string, number>();
    let run = 0;
    let most = 0;
    for (let k = this.count - 1; k >= 0; k--) {
      const i = (this.head + k) % this.capacity;
      if (this.ok[i]) break;
      const n = (inRun.get(this.account[i]!) ?? 0) + 1;
      inRun.set(this.account[i]!, n);
      most = Math.max(most, n);
      run++;
    }
    return run - most;
  }

  private dropOldest(): void {
    this.account[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
  }
}
