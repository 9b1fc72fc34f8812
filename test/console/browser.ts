import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { run } from '../../lib/processes';
import { projectRoot } from '../../lib/project-root';
import { consoleBundleDir } from '../../api/console-static';
import { testDir } from '../harness';

/** Debian's chromium (scripts/setup installs it): no browser download, the one the admin's distro ships. */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where the screenshots of every page a test visits go (git-ignored) for a person to look at. */
export const SCREENSHOT_DIR = path.join(projectRoot(), 'test', 'console', 'screenshots');

/**
 * The console's bundle as the API serves it: built now when console/ has a file newer than it (a fresh
 * clone after scripts/setup has it already).
 */
export async function ensureConsoleBuilt(): Promise<void> {
  const index = path.join(consoleBundleDir(), 'index.html');
  const builtAt = fs.existsSync(index) ? fs.statSync(index).mtimeMs : 0;
  const sources = fs.readdirSync(path.join(projectRoot(), 'console'), { recursive: true }) as string[];
  const newest = Math.max(...sources.map((f) => fs.statSync(path.join(projectRoot(), 'console', f)).mtimeMs));
  // Built for production as scripts/setup builds it: jest's NODE_ENV=test would give React's development build.
  if (newest > builtAt)
    await run('npm', ['run', '--silent', 'build:console'], {
      cwd: projectRoot(),
      env: { ...process.env, NODE_ENV: 'production' },
    });
}

export interface ConsoleBrowser {
  context: BrowserContext;
  page: Page;
  /** Saves a full-page PNG named after the test and the step. */
  screenshot(name: string): Promise<void>;
  /** Runs axe-core on the page as it is: answers the serious and critical violations. */
  accessibilityViolations(): Promise<{ id: string; impact: string; help: string; targets: string[] }[]>;
  close(): Promise<void>;
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** A headless chromium with a fresh profile, whose page errors fail the test that reads `errors`. */
export async function openBrowser(label: string): Promise<ConsoleBrowser & { errors: string[] }> {
  const context = await chromium.launchPersistentContext(testDir(`chromium-${label}`), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1360, height: 860 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  // A script error in the page is a console bug: kept for the test to assert on, and shown at once.
  page.on('pageerror', (err) => {
    errors.push(err.message);
    console.error(`[${label}] page error: ${err.stack ?? err.message}`);
  });
  // window.confirm and prompt: accepted, with the suggested value.
  page.on('dialog', (dialog) => void dialog.accept(dialog.defaultValue() || undefined));
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  let shot = 0;
  return {
    context,
    page,
    errors,
    async screenshot(name) {
      shot++;
      const file = `${label}-${String(shot).padStart(2, '0')}-${name}.png`;
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, file), fullPage: true });
    },
    async accessibilityViolations() {
      // Runtime.evaluate is not bound by the page's Content-Security-Policy, so axe needs no CSP bypass.
      await page.evaluate(AXE_SOURCE);
      const results = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as {
        violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
      };
      return results.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          targets: v.nodes.map((n) => n.target.join(' ')),
        }));
    },
    close: () => context.close(),
  };
}
