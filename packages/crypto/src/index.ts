export {
  createSealer,
  keyIdOf,
  type SealContext,
  SealError,
  type Sealer,
  type SealPurpose,
} from './sealer.ts';
