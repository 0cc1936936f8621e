// The LIF family: LIF, IAF, ExpLeak and their squeeze variants.
export { LIF } from './lif.js';
export { IAF, IAF_VARIANT, type IAFOptions } from './iaf.js';
export { ExpLeak, EXPLEAK_VARIANT, type ExpLeakOptions } from './expleak.js';
export { LIFSqueeze, IAFSqueeze, ExpLeakSqueeze, type SqueezeOptions, type SqueezeMembers } from './squeeze.js';
export type { LIFOptions, ForwardOptions, BackwardOptions, ResetStatesOptions, Recordings } from './options.js';
export { LIF_VARIANT, type LayerKind, type LayerVariant } from './variant.js';
export { broadcastMap } from './broadcast.js';
