// A training process for train-sigkill.test: trains a tiny model for 3 epochs of 4 steps, checkpointing after
// every step, resuming from the newest checkpoint in argv[2] if there is one. Prints "resumed at <globalStep>"
// first, "step <globalStep>" after each step and, at the end, writes {globalStep, weights} to argv[3].
import { writeFile } from 'node:fs/promises';
import { lastValueFrom, tap } from 'rxjs';
import { selectBackend } from '../src/backend/selectBackend.js';
import { train } from '../src/operators/train.js';
import { loadLatestCheckpoint, resumeSourcePosition } from '../src/training/checkpoint.js';
import { syntheticBatches, tinySegmenter, weightValues } from './train-fixtures.js';

const [checkpointDir, outputFile] = process.argv.slice(2) as [string, string];
const CLASSES = 3;
const STEPS_PER_EPOCH = 4;
const EPOCHS = 3;

await selectBackend({ backend: 'cpu' });
const checkpoint = await loadLatestCheckpoint(checkpointDir);
const start = checkpoint ? resumeSourcePosition(checkpoint.position) : { epoch: 0, batch: 0 };
const model = checkpoint?.models.model ?? tinySegmenter(CLASSES, 7);
const source = syntheticBatches(
  start.epoch * STEPS_PER_EPOCH + start.batch,
  EPOCHS * STEPS_PER_EPOCH,
  2,
  8,
  CLASSES,
);
let globalStep = checkpoint?.position.globalStep ?? 0;
process.stdout.write(`resumed at ${globalStep}\n`);
await lastValueFrom(
  source.pipe(
    train({
      model,
      numClasses: CLASSES,
      epochs: EPOCHS,
      stepsPerEpoch: STEPS_PER_EPOCH,
      optimizer: { name: 'adam', learningRate: 0.02 },
      schedule: { name: 'step', everyEpochs: 1, gamma: 0.5 },
      checkpoint: { dir: checkpointDir, everySteps: 1 },
      ...(checkpoint ? { resumeFrom: checkpoint } : {}),
    }),
    tap((event) => {
      if (event.type === 'batch') {
        globalStep = event.globalStep;
        process.stdout.write(`step ${globalStep}\n`);
      }
    }),
  ),
  { defaultValue: undefined },
);
await writeFile(outputFile, JSON.stringify({ globalStep, weights: weightValues(model) }));
process.stdout.write('done\n');
