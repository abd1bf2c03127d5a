// Per-run caches for lookups that cost a round trip (a user's Resend key, a webhook's signing
// secret). Make one per run, never per module: functions keep no state between requests.

/** `load` called once per key; a failed load is forgotten, so the next call tries again. */
export function cachedLookup<T>(load: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const cache = new Map<string, Promise<T>>();
  return (key) => {
    let found = cache.get(key);
    if (!found) {
      found = load(key);
      found.catch(() => cache.delete(key));
      cache.set(key, found);
    }
    return found;
  };
}
