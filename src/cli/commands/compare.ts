import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { compareRuns, comparisonMarkdown } from '../../runs/compare.js';
import { EXIT_CODES } from '../terminal.js';

/** `compare`: the Markdown table on stdout, and with the options as files. */
async function compare(runs: string[], options: { markdown?: string; json?: string }): Promise<number> {
  const rows = await compareRuns(runs);
  const markdown = comparisonMarkdown(rows);
  process.stdout.write(markdown);
  if (options.markdown) await writeFile(options.markdown, markdown);
  if (options.json) await writeFile(options.json, `${JSON.stringify(rows, null, 2)}\n`);
  return EXIT_CODES.ok;
}

/** Adds `compare` to the program. */
export function addCompareCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('compare')
    .description(
      'several evaluated runs side by side: F1, recall, precision, accuracy, mean IoU per architecture',
    )
    .argument('<runs...>', 'run folders, each evaluated with eval')
    .option('--markdown <file>', 'write the Markdown table here too')
    .option('--json <file>', 'write the rows as JSON')
    .action(async (runs: string[], options: { markdown?: string; json?: string }) =>
      setExitCode(await compare(runs, options)),
    );
}
