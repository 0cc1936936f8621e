// The async queue of one layer: async calls run one after another, in order; from the moment one
// is issued until it settles, synchronous calls that use or change the layer are refused.
import { ErrorCodes, SpikelayersError } from '../errors.js';

export class CallQueue {
  #inflight = 0;
  #tail: Promise<unknown> = Promise.resolve();

  /** Whether an async call is issued and not yet settled. */
  get busy(): boolean {
    return this.#inflight > 0;
  }

  /** Throws ERR_LAYER_BUSY (naming `what`) while an async call is in flight. */
  assertIdle(what: string): void {
    if (this.#inflight > 0)
      throw new SpikelayersError(ErrorCodes.LAYER_BUSY, `${what}: the layer is running an async call; await it first`);
  }

  /** Runs `fn` after every call issued before it has settled. */
  enqueue<R>(fn: () => Promise<R>): Promise<R> {
    this.#inflight += 1;
    const run = async (): Promise<R> => {
      try {
        return await fn();
      } finally {
        this.#inflight -= 1;
      }
    };
    const r = this.#tail.then(run, run);
    this.#tail = r.catch(() => undefined);
    return r;
  }
}
