export type BackendName = 'dynalite' | 'dynamodb-local' | 'endpoint';
export const BACKEND_NAMES: readonly BackendName[];
/** Throws, naming the accepted values, for an unknown TEST_BACKEND. */
export function readBackendName(env: NodeJS.ProcessEnv): BackendName;
