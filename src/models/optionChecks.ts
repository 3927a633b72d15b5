/** Argument checks shared by the model builders: each error names the option, what is expected and what was given. */

/** Throws unless `value` is an integer in [min, max]. */
export function checkInteger(
  where: string,
  name: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`${where}: options.${name} must be an integer ${range}, got ${String(value)}`);
  }
}

/** Throws unless `value` is a number in [min, max). */
export function checkRate(where: string, name: string, value: number): void {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new RangeError(`${where}: options.${name} must be a number in [0, 1), got ${String(value)}`);
  }
}

/** Throws unless `value` is one of `allowed`. */
export function checkOneOf<T>(where: string, name: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value)) {
    throw new RangeError(
      `${where}: options.${name} must be one of ${allowed.map(String).join(', ')}, got ${String(value)}`,
    );
  }
}

/** Throws unless `value` is a boolean. */
export function checkBoolean(where: string, name: string, value: unknown): void {
  if (typeof value !== 'boolean')
    throw new TypeError(`${where}: options.${name} must be a boolean, got ${String(value)}`);
}

/** An input size: [height, width], or null for any size that the model's stride divides. */
export type InputSize = [number, number] | null;
