// What the CLI gives back to the shell that runs it: exit codes, and message lines on stderr.

/** Exit codes: 130 and 143 are what shells report for SIGINT and SIGTERM, so scripts can tell "interrupted". */
export const EXIT_CODES = { ok: 0, error: 1, usage: 2, SIGINT: 130, SIGTERM: 143 } as const;

/** One line to stderr: the CLI's messages, kept apart from the tables and reports it prints to stdout. */
export const say = (line: string): void => void process.stderr.write(`${line}\n`);
