/** A small seedable PRNG (mulberry32) for state resampling and randomised resets. */
export class Rng {
  #s: number;
  constructor(seed?: number) {
    this.#s = seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : seed >>> 0;
  }
  /** Re-seeds the generator. */
  seed(s: number): void {
    this.#s = s >>> 0;
  }
  /** The generator's state (to restore it when a call that drew numbers is rejected). */
  state(): number {
    return this.#s;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
