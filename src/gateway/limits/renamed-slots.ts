import type { Bucket } from "./bucket";
import { slotOf, type Level } from "./levels";

/**
 * Key slots a rotation moved to the line's newest key: the requests in flight there (and bodies
 * being read) count against the new key's concurrency from the rotation on, and each frees,
 * corrects and refunds the new key's slot and buckets when it ends. Empty until a rotation (the
 * request path then pays one size check); an entry per rotation, which are rare.
 */
export class RenamedSlots {
  private readonly to = new Map<string, string>();

  /**
   * Copies the old key's buckets to the new key (the old one goes on in its grace, sharing the
   * line's limits) and moves its counts (in flight, reading) to the new key's slot.
   */
  rename(oldKeyId: string, newKeyId: string, o: { counts: Map<string, number>[]; buckets: Map<string, Bucket>; dirty: Set<string> }): void {
    const from = slotOf("key", oldKeyId);
    const to = slotOf("key", newKeyId);
    if (from === to) return;
    for (const dim of [":r", ":t"]) {
      const b = o.buckets.get(from + dim);
      if (!b) continue;
      o.buckets.set(to + dim, { ...b });
      o.dirty.add(to + dim);
    }
    for (const m of o.counts) {
      const n = m.get(from);
      if (!n) continue;
      m.set(to, (m.get(to) ?? 0) + n);
      m.delete(from);
    }
    this.to.set(from, to);
  }

  /** The level as it is now: the newest slot of a renamed one (a chain of rotations, bounded). */
  live(level: Level): Level {
    if (this.to.size === 0) return level;
    let slot = level.slot;
    for (let hops = 0; hops < 32 && this.to.has(slot); hops++) slot = this.to.get(slot)!;
    return slot === level.slot ? level : { ...level, slot, r: `${slot}:r`, t: `${slot}:t` };
  }

  /** Every level as it is now (the same array when nothing was renamed). */
  liveAll(levels: Level[]): Level[] {
    return this.to.size === 0 ? levels : levels.map((l) => this.live(l));
  }
}
