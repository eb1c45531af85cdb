/** What the project's command-line tools share. */

/** parseArgs' errors, as one short line naming the flag (node:util parseArgs, strict). */
export function usageMessage(error: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(error.message)?.[1] ?? "";
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing|ambiguous/.test(error.message)
        ? `${flag} needs a value; for one starting with "-" write ${flag}=VALUE`
        : `${flag} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[1] ?? ""}`.trim();
    default:
      return error.message.split("\n")[0] ?? "bad arguments";
  }
}

/**
 * A reader that stops reading (`npm run plan -- … | head`) closes stdout: the
 * next line would crash the tool with EPIPE. Stop quietly instead, as `cat` does.
 */
export function exitQuietlyWhenStdoutCloses(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(0);
  });
}
