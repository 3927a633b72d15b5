// A custom training pipeline composed in code (the README's example; test/readme-commands.test.ts runs it).
import { lastValueFrom, tap } from 'rxjs';
import {
  buildNetworks,
  type ClassMask,
  decodeImage,
  httpSink,
  type LabelledPair,
  pairFiles,
  selectBackend,
  splitBySource,
  tileBatches,
  train,
  writeSyntheticXbd,
  xbdClassMap,
} from 'segstream';

/** Labels that are already class-index PNG masks: the first channel is the class id. */
async function readPngMask(pair: LabelledPair): Promise<ClassMask> {
  const png = await decodeImage(pair.labelPath);
  const ids = new Uint8Array(png.width * png.height);
  for (let i = 0; i < ids.length; i++) ids[i] = png.data[i * png.channels]!;
  return { data: ids, width: png.width, height: png.height };
}

export async function runCustomPipeline(workDir: string): Promise<{ meanIoU: number; steps: number }> {
  await selectBackend(); // the best backend here: tensorflow-gpu, webgpu (on a GPU), tensorflow, wasm or cpu
  const { imagesDir, masksDir } = await writeSyntheticXbd(workDir, { images: 6, size: 64 });
  const { pairs } = await pairFiles({ imagesDir, labelsDir: masksDir });
  const splits = splitBySource(pairs, { ratios: [0.67, 0.33, 0], seed: 7 });
  const classMap = xbdClassMap();
  const { model } = buildNetworks('unet', { numClasses: 5, unet: { depth: 2, baseFilters: 4 } });
  const batches = (split: LabelledPair[]) =>
    tileBatches({ pairs: split, classMap, readMask: readPngMask, tile: { size: 32 }, batchSize: 4 });

  const dashboard = httpSink({ port: 0 }); // open the printed URL to watch the run live
  console.log(`dashboard: ${await dashboard.listening}`);
  let result = { meanIoU: NaN, steps: 0 };
  await lastValueFrom(
    batches(splits.train).pipe(
      train({
        model,
        numClasses: 5,
        classNames: classMap.names,
        epochs: 1,
        validation: () => batches(splits.validation),
      }),
      tap((event) => dashboard.write(event)),
      tap((event) => {
        if (event.type === 'epoch')
          result = { meanIoU: (event.validation ?? event.train).meanIoU, steps: event.steps };
      }),
    ),
  );
  await dashboard.close();
  model.dispose();
  return result;
}
