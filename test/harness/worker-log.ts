import { inspect } from 'node:util';
import { makeTelemetryFilterString, type LogEntry } from '@temporalio/worker';
import { installWorkerRuntime } from '../../runtime/temporal-connection';
import { eventually } from './poll';

/**
 * The in-process worker's log in tests. The failures tests provoke on purpose (an activity that
 * throws, a workflow that ends failed) are the SDK's "Activity failed" / "Workflow failed" warnings,
 * printed with stack traces outside tests; here they are kept for the test to assert with
 * expectWorkerFailures, so a green run stays quiet. Anything else the runtime reports (a workflow
 * activation or the worker itself failing, SDK warnings) goes to stderr as in production, and a
 * failure no test asserted is printed as one line when its test ends: nothing is hidden.
 */
export interface WorkerFailure {
  kind: 'activity' | 'workflow';
  /** The activity's type, or the workflow's. */
  type: string;
  workflowId: string;
  /** The error's message followed by its causes', `: `-joined. */
  error: string;
}

type Expected = Partial<Record<keyof WorkerFailure, string | RegExp>>;

const unasserted: WorkerFailure[] = [];
/** Every entry the runtime logged in this test file, in full, for tests about what reaches a log. */
const everything: string[] = [];

function messages(error: unknown): string {
  const parts: string[] = [];
  for (let e = error; typeof e === 'object' && e !== null && 'message' in e; e = (e as Error).cause) {
    // A failure that wraps an error under the same message says nothing new.
    if (parts.at(-1) !== (e as Error).message) parts.push(String((e as Error).message));
  }
  return parts.join(': ');
}

function failureOf(entry: LogEntry): WorkerFailure | undefined {
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  const common = { workflowId: String(meta.workflowId ?? ''), error: messages(meta.error) };
  if (entry.message === 'Activity failed')
    return { kind: 'activity', type: String(meta.activityType), ...common };
  if (entry.message === 'Workflow failed')
    return { kind: 'workflow', type: String(meta.workflowType), ...common };
  return undefined;
}

/** `message` + NUL + workflow id of every entry logged for a workflow: what failureLogged waits for. */
const loggedFor = new Set<string>();

function record(entry: LogEntry): void {
  const workflowId = (entry.meta as Record<string, unknown> | undefined)?.workflowId;
  if (typeof workflowId === 'string') loggedFor.add(`${entry.message}\0${workflowId}`);
  everything.push(`${entry.level} ${entry.message} ${inspect(entry.meta ?? {}, { depth: 6 })}`);
  const failure = failureOf(entry);
  if (failure) unasserted.push(failure);
  else console.error(`[temporal] ${entry.level} ${entry.message}`, entry.meta ?? '');
}

/**
 * What the Rust core writes to the console in tests: its warnings, but for two that tests provoke on
 * purpose or that say the test machine is busy, not that anything failed: a workflow task over 5 s
 * (40 tasks at once on 2 cores), and a call retried while a test has its Temporal server stopped.
 */
const CORE_LOG_FILTER = [
  makeTelemetryFilterString({ core: 'WARN' }),
  'temporalio_sdk_core::worker::workflow::managed_run=ERROR',
  'temporalio_client::retry=ERROR',
].join(',');

/** The worker runtime logs here; startTestStack calls it before the test file's first worker starts. */
export function captureWorkerLog(): void {
  installWorkerRuntime(record, CORE_LOG_FILTER);
}

/**
 * Waits until the in-process worker has logged each of `messages` ('Workflow failed', 'Activity
 * failed') for the task's workflow: a task is seen as ended as soon as Temporal records it, and the
 * worker's own log of the failure can come a moment later (at load 8 it did), so a test calls this
 * before expectWorkerFailures.
 */
export async function failureLogged(
  workflowId: string,
  messages: string[] = ['Workflow failed'],
  timeoutMs = 60_000,
): Promise<void> {
  await eventually(
    () => messages.every((message) => loggedFor.has(`${message}\0${workflowId}`)),
    timeoutMs,
    `the worker's log of ${messages.join(', ')} for ${workflowId}`,
  );
}

/** Everything the in-process worker logged so far in this test file (asserted or not), as text. */
export function workerLogText(): string {
  return everything.join('\n');
}

const matches = (failure: WorkerFailure, expected: Expected) =>
  Object.entries(expected).every(([key, want]) => {
    const have = failure[key as keyof WorkerFailure];
    return typeof want === 'string' ? have === want : want.test(have);
  });

const show = (failure: WorkerFailure) =>
  `${failure.kind} ${failure.type} (${failure.workflowId}) failed: ${failure.error}`;

/**
 * Asserts the worker failures since the last call and clears them: each failure matches one of
 * `expected`, and each of `expected` matched one at least (how often a retried activity fails
 * depends on timing). No argument: nothing failed.
 */
export function expectWorkerFailures(...expected: Expected[]): void {
  const failures = unasserted.splice(0);
  expect(failures.filter((f) => !expected.some((e) => matches(f, e))).map(show)).toEqual([]);
  expect(expected.filter((e) => !failures.some((f) => matches(f, e)))).toEqual([]);
}

/** Failures nobody asserted are shown (one line each) where they happened: a test, or the file's set-up and tear-down. */
function reportUnasserted(where: string): void {
  const failures = unasserted.splice(0);
  if (failures.length === 0) return;
  process.stderr.write(
    `worker failures not asserted in ${where}:\n${failures.map((f) => `  ${show(f)}\n`).join('')}`,
  );
}

afterEach(() => reportUnasserted(`"${expect.getState().currentTestName}"`));
afterAll(() => reportUnasserted(expect.getState().testPath ?? 'the test file'));
