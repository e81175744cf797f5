/**
 * The longest the event loop went without a 5 ms timer firing while `work` ran and for `settleMs`
 * after it: how long a request arriving meanwhile would have waited.
 */
export async function loopLagDuring(work: () => Promise<unknown>, settleMs = 20): Promise<number> {
  let maxLag = 0;
  let last = performance.now();
  const iv = setInterval(() => {
    const t = performance.now();
    maxLag = Math.max(maxLag, t - last - 5);
    last = t;
  }, 5);
  try {
    await work();
    await Bun.sleep(settleMs);
  } finally {
    clearInterval(iv);
  }
  return maxLag;
}
