/**
 * Credits counted in tiles: the demand signal that bounds memory in a push-based (RxJS) pipeline. The
 * source takes credits before it reads an image (one per tile the image will give) and every tile keeps its
 * credit until the batch holding it is released by the consumer. So at most `capacity` tiles exist between
 * the source and the consumer, however slow the consumer is. See docs/BACKPRESSURE.md.
 */
export class CreditGate {
  readonly capacity: number;
  private held = 0;
  private peakHeld = 0;
  private readonly waiting: Array<{ credits: number; wake: () => void; fail: (error: Error) => void }> = [];
  private closedWith: Error | undefined;

  /** @param capacity the most credits (tiles) that may be held at once, a positive integer. */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`CreditGate: capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Credits held now (tiles alive between source and consumer). */
  get inFlight(): number {
    return this.held;
  }

  /** The most credits held at any moment so far. */
  get peak(): number {
    return this.peakHeld;
  }

  /**
   * Resolves once `credits` credits are free and takes them; waiters are served in order, so a large
   * request is not starved by small ones.
   * @throws RangeError when more credits are asked for than the gate has (that would wait forever).
   */
  acquire(credits: number): Promise<void> {
    if (!Number.isInteger(credits) || credits < 0)
      throw new RangeError(`CreditGate.acquire: credits must be an integer >= 0, got ${credits}`);
    if (credits > this.capacity) {
      throw new RangeError(
        `CreditGate.acquire: ${credits} credits asked for but the gate only has ${this.capacity}; raise the credits`,
      );
    }
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.waiting.length === 0 && this.held + credits <= this.capacity) {
      this.take(credits);
      return Promise.resolve();
    }
    return new Promise((wake, fail) => this.waiting.push({ credits, wake, fail }));
  }

  /** Returns credits (when the tiles that held them are released or were never made). */
  release(credits: number): void {
    if (credits > this.held)
      throw new RangeError(`CreditGate.release: releasing ${credits} credits but only ${this.held} are held`);
    this.held -= credits;
    while (this.waiting.length > 0 && this.held + this.waiting[0]!.credits <= this.capacity) {
      const next = this.waiting.shift()!;
      this.take(next.credits);
      next.wake();
    }
  }

  /** Rejects every waiter and every later `acquire` (the pipeline was unsubscribed). */
  close(reason = new Error('CreditGate closed')): void {
    this.closedWith = reason;
    for (const waiter of this.waiting.splice(0)) waiter.fail(reason);
  }

  private take(credits: number): void {
    this.held += credits;
    if (this.held > this.peakHeld) this.peakHeld = this.held;
  }
}
