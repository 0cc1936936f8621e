// What a container needs to know about a child: the name it is reported by, the error it throws
// rewritten to name its place in the chain, and whether an object can be a child at all.
import type { ModuleLike } from './module.js';

/** The name a child is reported by in errors: its `typeName` (Modules) or class name. */
export function typeNameOf(m: ModuleLike): string {
  const t = (m as { typeName?: unknown }).typeName;
  if (typeof t === 'string') return t;
  return (m as object).constructor?.name ?? 'module';
}

/**
 * A copy of an error from child `i` with the layer index and type in front of its message: same
 * prototype (class), own properties (`code`, ...) and stack; the original is its `cause`. The
 * original is not changed (a layer may throw the same error object more than once).
 */
export function inLayer(e: unknown, i: number, child: ModuleLike): unknown {
  if (!(e instanceof Error)) return e;
  const message = `Sequential layer ${i} (${typeNameOf(child)}): ${e.message}`;
  const out = Object.create(Object.getPrototypeOf(e) as object) as Error;
  Object.assign(out, e);
  const hidden = (k: string, value: unknown) =>
    Object.defineProperty(out, k, { value, writable: true, configurable: true, enumerable: false });
  hidden('message', message);
  hidden('cause', e);
  if (typeof e.stack === 'string') hidden('stack', e.stack.replace(e.message, message));
  return out;
}

export function isModuleLike(m: unknown): m is ModuleLike {
  return (
    m !== null &&
    typeof m === 'object' &&
    typeof (m as ModuleLike).forward === 'function' &&
    typeof (m as ModuleLike).backward === 'function'
  );
}
