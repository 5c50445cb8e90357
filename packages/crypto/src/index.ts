export { createSealer, keyIdOf, SealError, type Sealer } from './sealer.ts';
