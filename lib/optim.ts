// Optimizers (lib/optim/): SGD, Adam, AdamW, and gradient clipping.
export { type Optimizer, type OptimizerStateDict, type ZeroGradOptions } from './optim/base.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, AdamW, type AdamOptions } from './optim/adam.js';
export { clipGradNorm } from './optim/clip.js';
