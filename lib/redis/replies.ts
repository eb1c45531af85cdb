/** One stream entry with its fields as strings. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

/**
 * Normalize an XRANGE/XREVRANGE answer. With automatic deserialization off,
 * @upstash/redis hands back Redis' RESP2 shape: [[id, [field, value, ...]], ...].
 */
export function toStreamEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((entry) => {
    if (!Array.isArray(entry) || typeof entry[0] !== "string" || !Array.isArray(entry[1]))
      return [];
    const flat = entry[1] as unknown[];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
    return [{ id: entry[0], fields }];
  });
}

/**
 * Normalize an HGETALL answer to an object. With automatic deserialization off
 * @upstash/redis returns Redis' flat [field, value, ...] array (null when empty).
 */
export function toHash(raw: unknown): Record<string, string> {
  const hash: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) hash[String(raw[i])] = String(raw[i + 1]);
  } else if (raw && typeof raw === "object") {
    for (const [k, v] of Object.entries(raw))
      hash[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return hash;
}
