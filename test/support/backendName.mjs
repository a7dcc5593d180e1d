// Which DynamoDB the tests run on, read from the environment by the global setup and every
// test file alike.
export const BACKEND_NAMES = ['dynalite', 'dynamodb-local', 'endpoint'];

export function readBackendName(env) {
  const name = env.TEST_BACKEND ?? 'dynalite';
  if (!BACKEND_NAMES.includes(name)) {
    throw new Error(`TEST_BACKEND must be one of ${BACKEND_NAMES.join(', ')}; got "${name}"`);
  }
  if (name === 'endpoint' && !env.TEST_DYNAMODB_ENDPOINT) {
    throw new Error(
      'TEST_BACKEND=endpoint needs TEST_DYNAMODB_ENDPOINT, e.g. http://127.0.0.1:8000',
    );
  }
  return name;
}
