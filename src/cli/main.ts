import { Command } from 'commander';
import { addCompareCommand } from './commands/compare.js';
import { addEvalCommand } from './commands/eval.js';
import { addMergeCommand } from './commands/merge.js';
import { addPredictCommand } from './commands/predict.js';
import { addPrepareCommand } from './commands/prepare.js';
import { addTrainCommand } from './commands/train.js';
import { EXIT_CODES, say } from './terminal.js';

/** The `stream-train` program; each command sets the exit code through `setExitCode`. */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('stream-train')
    .description(
      'Train, evaluate and apply semantic-segmentation models on aerial imagery, streaming on TensorFlow.js.',
    )
    .showHelpAfterError()
    // Before the commands are added, so that they inherit it: usage errors come back to runCli as exit code 2.
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  for (const addCommand of [
    addTrainCommand,
    addEvalCommand,
    addPredictCommand,
    addCompareCommand,
    addPrepareCommand,
    addMergeCommand,
  ])
    addCommand(program, setExitCode);
  return program;
}

/**
 * Runs the CLI on `argv` (as process.argv) and returns the exit code. Errors print one line (the file and
 * the problem for bad input), not a stack, and give exit code 1; usage errors give 2.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  let code: number = EXIT_CODES.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const commanderCode = (error as { code?: string }).code;
    if (
      commanderCode === 'commander.helpDisplayed' ||
      commanderCode === 'commander.version' ||
      commanderCode === 'commander.help'
    )
      return EXIT_CODES.ok;
    if (commanderCode?.startsWith('commander.')) return EXIT_CODES.usage;
    say(`error: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env.SEGSTREAM_DEBUG) console.error(error);
    return error instanceof RangeError || error instanceof TypeError ? EXIT_CODES.usage : EXIT_CODES.error;
  }
  return code;
}
