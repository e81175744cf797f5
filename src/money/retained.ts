/**
 * Charges whose settlement failed to commit and that their meters try again (a stream's output
 * went out already). The credit store keeps their holds from the sweeper and, at its flush, gives
 * each one more try: a stop must not drop a charge that the next try would have written.
 */
export class RetainedCharges {
  private readonly tries = new Map<string, () => Promise<unknown>>();

  get size(): number {
    return this.tries.size;
  }

  add(requestId: string, again: () => Promise<unknown>): void {
    this.tries.set(requestId, again);
  }

  /** The request settled or released (by its retry or otherwise): nothing left to try. */
  delete(requestId: string): void {
    this.tries.delete(requestId);
  }

  /** Tries each once more; one that fails again is named (its hold is released at the next start). */
  async flush(): Promise<void> {
    const pending = [...this.tries];
    this.tries.clear();
    for (const [requestId, again] of pending) {
      await again().catch((e) => console.error(`the charge of ${requestId} could still not be written at the stop, and is lost:`, (e as Error)?.message ?? e));
    }
  }
}
