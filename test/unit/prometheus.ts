/**
 * Read a Prometheus text exposition (format 0.0.4) with a real parser
 * (parse-prometheus-text-format, a port of the reference client's parser) and
 * check what the format requires of the governor: every family has `# HELP`
 * and `# TYPE`, and the text ends with a line feed. Shared by the unit and
 * workers tests.
 */
import parsePrometheusTextFormat, { type ParsedFamily } from "parse-prometheus-text-format";

export type { ParsedFamily };

export interface Scrape {
  families: Map<string, ParsedFamily>;
  /** The value of one counter or gauge sample (labels must match exactly); undefined when absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

export function parseExposition(text: string): Scrape {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a line feed");
  const parsed = parsePrometheusTextFormat(text);
  const families = new Map<string, ParsedFamily>();
  for (const family of parsed) {
    if (families.has(family.name)) throw new Error(`family ${family.name} appears twice`);
    if (!family.help) throw new Error(`family ${family.name} has no # HELP`);
    if (family.type === "UNTYPED") throw new Error(`family ${family.name} has no # TYPE`);
    families.set(family.name, family);
  }
  // Every HELP precedes its TYPE, both before the family's samples.
  const seen = new Set<string>();
  for (const line of text.split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
    if (meta?.[1] === "HELP") seen.add(meta[2]!);
    else if (meta?.[1] === "TYPE" && !seen.has(meta[2]!)) {
      throw new Error(`# TYPE before # HELP for ${meta[2]}`);
    }
  }
  const same = (a: Record<string, string> = {}, b: Record<string, string> = {}) =>
    Object.keys(a).length === Object.keys(b).length &&
    Object.entries(a).every(([k, v]) => b[k] === v);
  return {
    families,
    value(name, labels) {
      const sample = families.get(name)?.metrics.find((m) => same(m.labels, labels));
      return sample?.value === undefined ? undefined : Number(sample.value);
    },
  };
}
