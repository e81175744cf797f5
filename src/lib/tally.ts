/** Running sums kept in Maps (money per account or key, counts per label); a sum back at zero is dropped by decrement. */
export function increment<K>(map: Map<K, number>, key: K, amount: number): void {
  map.set(key, (map.get(key) ?? 0) + amount);
}

export function decrement<K>(map: Map<K, number>, key: K, amount: number): void {
  const left = (map.get(key) ?? 0) - amount;
  if (left === 0) map.delete(key);
  else map.set(key, left);
}
