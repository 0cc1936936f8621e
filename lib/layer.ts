// The LIF layer family lives in lib/neurons/ (one concept per file); this module keeps the
// original import path working.
export { CHECKPOINT_INTERVAL } from './kinds.js';
export {
  LIF,
  broadcastMap,
  type LIFOptions,
  type ForwardOptions,
  type BackwardOptions,
  type ResetStatesOptions,
  type Recordings,
  type LayerKind,
} from './neurons/index.js';
