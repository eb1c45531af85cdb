/**
 * A one-line progress bar on stderr when it is a terminal; silent otherwise
 * (CI logs, pipes, tests). Redrawn at most every 100 ms.
 */
export interface Progress {
  /** Start a new run, `index` of `count`. */
  run(index: number, count: number, name: string): void;
  update(fraction: number): void;
  done(): void;
}

const WIDTH = 30;
const REDRAW_MS = 100;

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { run() {}, update() {}, done() {} };
  let label = "";
  let lastDraw = 0;
  const draw = (fraction: number) => {
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * WIDTH);
    const bar = "#".repeat(filled) + "-".repeat(WIDTH - filled);
    const percent = String(Math.floor(fraction * 100)).padStart(3);
    const columns = stream.columns ?? 100;
    stream.write(`\r${`${label} [${bar}] ${percent}%`.slice(0, columns - 1)}\u001b[K`);
  };
  return {
    run(index, count, name) {
      label = `run ${index}/${count} ${name}`;
      lastDraw = 0;
      draw(0);
    },
    update(fraction) {
      const now = Date.now();
      if (now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      draw(fraction);
    },
    done() {
      draw(1);
      stream.write("\n");
    },
  };
}
