/** What global setup hands to test files (through process.env, which jest workers inherit). */
export const HARNESS_ENV = {
  temporalAddress: 'LAMINA_TEST_TEMPORAL_ADDRESS',
  databaseUrl: 'LAMINA_TEST_DATABASE_URL',
  workflowBundle: 'LAMINA_TEST_WORKFLOW_BUNDLE',
  root: 'LAMINA_TEST_ROOT',
} as const;

export interface HarnessHandles {
  root: string;
  stops: (() => Promise<void>)[];
}

export function harnessValue(name: keyof typeof HARNESS_ENV): string {
  const value = process.env[HARNESS_ENV[name]];
  if (!value) throw new Error(`${HARNESS_ENV[name]} is not set: run the tests through jest (global setup)`);
  return value;
}
