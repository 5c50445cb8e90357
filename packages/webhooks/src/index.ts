export { deliveryContentHash } from './delivery-hash.ts';
export { createHookIds, type HookIds, newSigningKey } from './hook-id.ts';
export {
  type AcceptedHook,
  createHookKeyResolver,
  type HookKeyResolver,
  type HookKeyResolverOptions,
  type HookLookup,
} from './hook-keys.ts';
export {
  callbackUrl,
  HOOK_ID_PATTERN,
  HOOK_ROUTE,
  hookIdOf,
  isUnderPublicUrl,
} from './hook-url.ts';
export {
  computeSignature,
  type ParsedSignatureHeader,
  parseSignatureHeader,
  type SignatureFailure,
  type SignatureResult,
  signatureHeader,
  type VerifyInput,
  verifySignature,
} from './signature.ts';
