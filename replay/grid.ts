/**
 * `--grid "base=3,4,5 trend=5,6,8 chop=2,3 threshold=0.1,0.15,0.3"`: every
 * combination of the listed values, each its own run. Short names map to the
 * governor's settings; any `GOV_*` name may be used as it is.
 */
export const GRID_NAMES: Readonly<Record<string, string>> = {
  base: "GOV_ACTIVE_SLOTS_BASE",
  trend: "GOV_ACTIVE_SLOTS_TREND_STRONG",
  chop: "GOV_ACTIVE_SLOTS_CHOP",
  threshold: "GOV_ROTATION_THRESHOLD",
  correlation: "GOV_MAX_CORRELATION",
  margin: "GOV_MAX_MARGIN_USAGE_PCT",
  lock_ttl: "GOV_ROTATION_LOCK_TTL",
  max_per_hour: "GOV_ROTATION_MAX_PER_HOUR",
};

export interface GridAxis {
  /** as written (short name or GOV_* name) */
  name: string;
  setting: string;
  values: string[];
}

export interface GridPoint {
  /** e.g. "base=3 trend=5" */
  label: string;
  settings: Record<string, string>;
}

export class GridError extends Error {
  override name = "GridError";
}

/** The short name of a setting, if it has one. */
export function shortName(setting: string): string {
  return Object.entries(GRID_NAMES).find(([, gov]) => gov === setting)?.[0] ?? setting;
}

export function parseGrid(spec: string): GridAxis[] {
  const axes: GridAxis[] = [];
  for (const part of spec.trim().split(/\s+/)) {
    if (part === "") continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(part);
    if (!match) throw new GridError(`${JSON.stringify(part)} is not NAME=V1,V2,...`);
    const name = match[1]!;
    const setting = GRID_NAMES[name] ?? (name.startsWith("GOV_") ? name : undefined);
    if (!setting) {
      throw new GridError(
        `unknown name ${JSON.stringify(name)}: use ${Object.keys(GRID_NAMES).join(", ")} or a GOV_* setting`,
      );
    }
    if (axes.some((axis) => axis.setting === setting)) {
      throw new GridError(`${name} is listed twice`);
    }
    const values = match[2]!.split(",");
    if (values.some((v) => v.trim() === "")) {
      throw new GridError(`${name}: empty value in ${JSON.stringify(match[2])}`);
    }
    axes.push({ name, setting, values: values.map((v) => v.trim()) });
  }
  if (axes.length === 0) throw new GridError("the grid is empty");
  return axes;
}

/** Cartesian product, the first axis varying slowest. */
export function gridPoints(axes: readonly GridAxis[]): GridPoint[] {
  let points: GridPoint[] = [{ label: "", settings: {} }];
  for (const axis of axes) {
    points = points.flatMap((point) =>
      axis.values.map((value) => ({
        label: `${point.label} ${axis.name}=${value}`.trim(),
        settings: { ...point.settings, [axis.setting]: value },
      })),
    );
  }
  return points;
}
