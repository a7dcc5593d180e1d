// The core is an optional peer that may be absent when this package is built; its module is
// only ever probed for `IdempotencyError`, which `pickCoreErrorClass` checks at run time.
declare module '@reaatech/idempotency-middleware' {
  export const IdempotencyError: unknown;
}
