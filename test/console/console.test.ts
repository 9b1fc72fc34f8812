import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Client } from 'ldapts';
import type { Locator, Page } from 'playwright-core';
import { projectRoot } from '../../lib/project-root';
import { startSlapd, type Slapd } from '../../runtime/slapd';
import { administratorClient, type ApiClient } from '../api-client';
import { mountedDir, testDir } from '../harness';
import {
  appPackage,
  builtLayer,
  fileshareConnector,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  run,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { offloadEnvironment } from '../offload/helpers';
import { ensureConsoleBuilt, openBrowser, type ConsoleBrowser } from './browser';

const SUFFIX = 'dc=console,dc=test';
const ROOT_PASSWORD = 'console-root-pw';
const SERVICE_PASSWORD = 'console-svc-pw';
const ADMIN_PASSWORD = 'console admin password';
const people = `ou=people,${SUFFIX}`;
const groups = `ou=groups,${SUFFIX}`;
const SHARED_FILE = '\\Program Files\\Shared\\settings.ini';

/** Users and groups of the test directory, added over LDAP as its root. */
async function populate(slapd: Slapd): Promise<void> {
  const client = new Client({ url: slapd.url });
  await client.bind(slapd.rootDn, ROOT_PASSWORD);
  const person = (uid: string, password: string) => ({
    objectClass: ['inetOrgPerson'],
    cn: uid,
    sn: uid,
    uid,
    userPassword: password,
  });
  await client.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'console', o: 'Console' });
  await client.add(people, { objectClass: ['organizationalUnit'], ou: 'people' });
  await client.add(groups, { objectClass: ['organizationalUnit'], ou: 'groups' });
  await client.add(`cn=lamina-svc,${people}`, person('lamina-svc', SERVICE_PASSWORD));
  await client.add(`cn=alice,${people}`, person('alice', 'alice-pw'));
  await client.add(`cn=rita,${people}`, person('rita', 'rita-pw'));
  await client.add(`cn=desktop-team,${groups}`, {
    objectClass: ['groupOfNames'],
    cn: 'desktop-team',
    member: [`cn=alice,${people}`],
  });
  await client.add(`cn=auditors,${groups}`, {
    objectClass: ['groupOfNames'],
    cn: 'auditors',
    member: [`cn=rita,${people}`],
  });
  await client.unbind();
}

/** Waits until the locator's text has `text`: the console updates on its own (polls, tasks). */
async function waitForText(locator: Locator, text: string | RegExp): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor();
}

async function textOf(locator: Locator): Promise<string> {
  return (await locator.innerText()).trim();
}

/** Types into the sign-in form from the keyboard only (the user name field has the focus on load). */
async function signInByKeyboard(page: Page, username: string, password: string): Promise<void> {
  await page.keyboard.type(username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
}

/** The test's own page visits: each one waits for the page, saves a screenshot and runs axe. */
async function visit(browser: ConsoleBrowser, heading: string | RegExp, name: string): Promise<void> {
  await browser.page.getByRole('heading', { level: 1, name: heading }).first().waitFor();
  await browser.screenshot(name);
  expect({ page: name, violations: await browser.accessibilityViolations() }).toEqual({
    page: name,
    violations: [],
  });
}

describe('the web console in chromium', () => {
  let slapd: Slapd;
  let app: Appliance;
  let admin: ApiClient;
  let os: { layerId: string; versionId: string };
  let baseTools: { versionId: string };
  let share: { id: string; mountPoint: string };
  let baseUrl: string;

  beforeAll(async () => {
    const built = ensureConsoleBuilt();
    slapd = await startSlapd({ dir: testDir('slapd'), suffix: SUFFIX, rootPassword: ROOT_PASSWORD });
    await populate(slapd);
    // The iSCSI portal the offloaded publish's Compositing Engine reads the layers from.
    app = await startAppliance({
      env: { LAMINA_ADMIN_PASSWORD: ADMIN_PASSWORD, ...(await offloadEnvironment()) },
    });
    admin = await administratorClient(app.stack);
    baseUrl = app.stack.apiUrl!;
    const junction = await admin.post('/api/directory-junctions', {
      name: 'Console Directory',
      settings: {
        url: slapd.url,
        bindDn: `cn=lamina-svc,${people}`,
        baseDn: SUFFIX,
        schema: 'ldap',
        domain: 'console.test',
        netbiosName: 'CONSOLE',
      },
      bindPassword: SERVICE_PASSWORD,
    });
    expect(junction.status).toBe(201);
    for (const [role, group] of [
      ['App Layer Contributor', 'desktop-team'],
      ['Image Template Contributor', 'desktop-team'],
      ['Image Publisher', 'desktop-team'],
      ['Reader', 'auditors'],
    ]) {
      const granted = await admin.post('/api/role-assignments', {
        role,
        principalType: 'group',
        principal: `cn=${group},${groups}`,
      });
      expect(granted.status).toBe(201);
    }
    os = await importedOs(admin, await goldImage());
    // The layer the console's new one will conflict with: the same file and registry value.
    baseTools = await builtLayer(
      admin,
      'app',
      'Base Tools',
      os.layerId,
      { [SHARED_FILE]: 'base' },
      { Shared: 'Owner=Base' },
    );
    share = await fileshareConnector(admin);
    await built;
  });
  afterAll(async () => {
    await app?.stop();
    await slapd?.stop();
  });

  /**
   * The administrator's Image Portability and Layer transfer pages, each starting a real task and
   * following it to what it made: a PVS vDisk published into a store share (compared with its source
   * by qemu-img), a layer version exported with its manifest, and the export imported back by keyboard
   * (skipped: the appliance has it).
   */
  async function signInAsAdministrator(browser: ConsoleBrowser, at: string): Promise<void> {
    await browser.page.goto(`${baseUrl}${at}`);
    await browser.page.getByLabel('User name').fill('administrator');
    await browser.page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await browser.page.getByRole('button', { name: 'Sign in' }).click();
  }

  async function portabilityAndTransfer(browser: ConsoleBrowser): Promise<void> {
    const { page } = browser;
    const store = await fileshareConnector(admin);
    const source = path.join(share.mountPoint, 'golden.vhdx');
    await run('qemu-img', ['create', '-f', 'vhdx', source, '64M']);
    const connectorLabel = (mountPoint: string) => `Share ${path.basename(mountPoint)} (fileshare)`;

    await page.getByRole('link', { name: 'Image Portability' }).click();
    await visit(browser, 'Image Portability', 'portability');
    await page.getByRole('radio', { name: 'Publish' }).check();
    await page.getByLabel('Share', { exact: true }).selectOption({ label: connectorLabel(share.mountPoint) });
    await page.getByLabel('Disk on the share').fill('golden.vhdx');
    await page.getByLabel('Provisioning').selectOption('PVS');
    await page.getByLabel('Target connector').selectOption({ label: connectorLabel(store.mountPoint) });
    await page.getByLabel('Name', { exact: true }).fill('Golden-pvs');
    await visit(browser, 'Image Portability', 'portability-publish');
    await page.getByRole('button', { name: 'Start publish' }).click();
    const badge = page.locator('.task-watch .badge').filter({ hasText: /^(completed|failed|cancelled)$/ });
    await badge.waitFor({ timeout: 120_000 });
    expect(await textOf(badge)).toBe('completed');
    await waitForText(page.getByRole('definition'), 'Golden-pvs.pvp');
    await visit(browser, 'Image Portability', 'portability-published');
    expect(fs.readdirSync(store.mountPoint).sort()).toEqual(['Golden-pvs.pvp', 'Golden-pvs.vhdx']);
    await run('qemu-img', ['compare', source, path.join(store.mountPoint, 'Golden-pvs.vhdx')]);

    const transfer = mountedDir('transfer');
    await page.getByRole('link', { name: 'Layer transfer' }).click();
    await visit(browser, 'Layer transfer', 'layer-transfer');
    await page.getByLabel('Find a layer').fill('Editor');
    await page.getByLabel('Layer', { exact: true }).selectOption({ label: 'Editor (App)' });
    await page.getByLabel('Version', { exact: true }).selectOption({ label: '1' });
    await page.getByRole('button', { name: 'Add version' }).click();
    await page.getByRole('list', { name: 'Chosen versions' }).getByText('Editor 1').waitFor();
    const exporting = page.getByRole('form', { name: 'Export' });
    await exporting.getByLabel('Mount point').fill(transfer);
    await exporting.getByLabel('Folder').fill('to-dr');
    await visit(browser, 'Layer transfer', 'layer-transfer-export');
    await exporting.getByRole('button', { name: 'Export 1 version' }).click();
    await waitForText(
      page.getByRole('list', { name: 'Transferred versions' }),
      "Transferred layer 'Editor' version 1",
    );
    const manifest = JSON.parse(fs.readFileSync(path.join(transfer, 'to-dr', 'manifest.json'), 'utf8'));
    expect(manifest.versions).toEqual([expect.objectContaining({ layerName: 'Editor', version: '1' })]);
    const exported = path.join(transfer, 'to-dr', manifest.versions[0].file as string);
    expect((await run('sha256sum', [exported])).stdout.split(' ')[0]).toBe(manifest.versions[0].sha256);
    await run('qemu-img', ['check', exported]);

    // The import from the keyboard: into the mount point, Tab to the folder, Enter submits.
    await page.getByRole('form', { name: 'Import' }).getByLabel('Mount point').focus();
    await page.keyboard.type(transfer);
    await page.keyboard.press('Tab');
    await page.keyboard.type('to-dr');
    await page.keyboard.press('Enter');
    await waitForText(
      page.getByRole('list', { name: 'Transferred versions' }),
      "Skipped layer 'Editor' version 1 (already here)",
    );
    await visit(browser, 'Layer transfer', 'layer-transfer-imported');
  }

  it('the first load is at most 300 KB of gzipped JavaScript', async () => {
    const index = await (await fetch(baseUrl)).text();
    const scripts = [...index.matchAll(/<script[^>]* src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    let gzipped = 0;
    for (const script of scripts)
      gzipped += gzipSync(Buffer.from(await (await fetch(new URL(script, baseUrl))).arrayBuffer())).length;
    expect(gzipped).toBeLessThanOrEqual(300 * 1024);
  });

  it('an AD user builds a layer from a dropped zip, makes a template, publishes it, and reads the conflict report', async () => {
    const browser = await openBrowser('ad-user');
    const { page } = browser;
    try {
      await page.goto(baseUrl);
      await visit(browser, 'Sign in', 'sign-in');
      await signInByKeyboard(page, 'alice@console.test', 'alice-pw');

      // Only what alice's roles allow: no audit log (Administrator only), and she may create app layers.
      await visit(browser, 'Layers', 'layers');
      await waitForText(page.getByRole('banner'), 'alice@console.test');
      const sections = await page
        .getByRole('navigation', { name: 'Sections' })
        .getByRole('link')
        .allTextContents();
      expect(sections).toContain('Templates');
      expect(sections).not.toContain('Audit log');

      // A new app layer, then its first version from a zip dropped on the form and a .reg chosen.
      await page.getByRole('button', { name: 'New layer' }).click();
      await page.getByRole('radio', { name: 'App layer' }).check();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('Name', { exact: true }).fill('Editor');
      await dialog.getByLabel('OS layer').selectOption({ label: 'Windows 11' });
      await browser.screenshot('new-layer');
      expect(await browser.accessibilityViolations()).toEqual([]);
      await page.getByRole('button', { name: 'Create layer' }).click();
      await page.getByRole('heading', { name: 'Add a version to Editor' }).waitFor();
      const pkg = await appPackage({ [SHARED_FILE]: 'editor' }, { Shared: 'Owner=Editor' });
      await page.getByRole('dialog').getByLabel('Version', { exact: true }).fill('1');
      const zip = fs.readFileSync(pkg.zip).toString('base64');
      // A real drop event carrying the zip, as a file dragged from the desktop makes.
      const dropped = await page.evaluateHandle(`(() => {
        const bytes = Uint8Array.from(atob(${JSON.stringify(zip)}), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'editor.zip', { type: 'application/zip' }));
        return transfer;
      })()`);
      const zone = page.locator('.dropzone').first();
      await zone.dispatchEvent('dragover', { dataTransfer: dropped });
      await zone.dispatchEvent('drop', { dataTransfer: dropped });
      await waitForText(zone, 'editor.zip');
      await page.getByLabel('Registry changes (.reg)').setInputFiles(pkg.reg!);
      await browser.screenshot('add-version');
      expect(await browser.accessibilityViolations()).toEqual([]);
      await page.getByRole('button', { name: 'Start' }).click();
      const made = page.getByRole('row', { name: /Deployable|Failed/ });
      await made.waitFor({ timeout: 120_000 });
      expect(await textOf(made.getByRole('cell').nth(1))).toBe('Deployable');
      await visit(browser, 'Editor', 'layer-built');
      const version = page.getByRole('row', { name: /Deployable/ });
      expect(await textOf(version)).toMatch(/[0-9a-f]{12}…/); // its hash
      expect(await textOf(version)).toMatch(/KiB|MiB/); // its size

      // The template wizard, step by step.
      await page.getByRole('link', { name: 'Templates' }).click();
      await visit(browser, 'Image templates', 'templates-empty');
      await page.getByRole('button', { name: 'New template' }).click();
      await visit(browser, 'New template', 'wizard-os');
      await page.getByLabel('OS layer version').selectOption({ label: 'Windows 11 1' });
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Platform layer version').waitFor();
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Version of Base Tools').selectOption({ label: '1' });
      await page.getByLabel('Version of Editor').selectOption({ label: '1' });
      expect(await page.locator('.priority li').allInnerTexts()).toEqual(['OS', 'Base Tools 1', 'Editor 1']);
      await browser.screenshot('wizard-apps');
      expect(await browser.accessibilityViolations()).toEqual([]);
      await page.getByRole('button', { name: 'Next' }).click();
      await page
        .getByLabel('Connector')
        .selectOption({ label: `Share ${share.mountPoint.split('/').pop()} (fileshare)` });
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Disk size (GB)').fill('2');
      await page.getByLabel('Format').selectOption('VHDX');
      await page.getByLabel('Firmware').selectOption('UEFI');
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Elastic layering').selectOption('none');
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Template name').fill('Sales desktop');
      await page.getByRole('button', { name: 'Create template' }).click();

      // Publish and watch the progress bar go to done.
      const row = page.getByRole('row', { name: /Sales desktop/ });
      await row.waitFor();
      await row.getByRole('button', { name: 'Publish' }).click();
      const bar = page.getByRole('progressbar', { name: /Progress of publishImage/ });
      const seen: number[] = [];
      await bar.waitFor();
      await browser.screenshot('publishing');
      for (;;) {
        seen.push(Number(await bar.getAttribute('aria-valuenow')));
        if (
          await page
            .locator('.task-watch .badge')
            .filter({ hasText: /^(completed|failed)$/ })
            .count()
        )
          break;
        await page.waitForTimeout(200);
      }
      expect(await textOf(page.locator('.task-watch .badge'))).toBe('completed');
      expect(Number(await bar.getAttribute('aria-valuenow'))).toBe(100);
      expect(Math.min(...seen)).toBeLessThan(100);
      await visit(browser, 'Image templates', 'published');

      // The conflict report: the shared file and value, both layers, the later one wins.
      await page.getByRole('link', { name: 'Open the image and its conflict report' }).click();
      await visit(browser, /^Sales-desktop_/, 'image'); // the file-safe template name + time
      const fileRow = page.getByRole('row', { name: /settings\.ini/ });
      await fileRow.waitFor();
      expect(await textOf(fileRow.getByRole('cell').nth(0))).toBe('File');
      expect(await textOf(fileRow.getByRole('cell').nth(2))).toMatch(/Base Tools.*→.*Editor/);
      expect(await textOf(fileRow.getByRole('cell').nth(3))).toMatch(/Editor/);
      const valueRow = page.getByRole('row', { name: /Shared\\Owner/ });
      expect(await textOf(valueRow.getByRole('cell').nth(0))).toBe('Registry value');
      expect(await textOf(valueRow.getByRole('cell').nth(3))).toMatch(/Editor/);

      await page.getByRole('link', { name: 'Tasks' }).click();
      await visit(browser, 'Tasks', 'tasks');
      const publishRow = page.getByRole('row', { name: /publishImage/ }).first();
      await publishRow.waitFor();
      expect(await publishRow.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100');
      expect(browser.errors).toEqual([]);
    } finally {
      await browser.screenshot('last');
      await browser.close();
    }
  }, 300_000);

  it('a Reader sees no publish button and is refused when publishing anyway; all from the keyboard', async () => {
    const templates = await admin.get('/api/templates?name=Sales desktop');
    const templateId = templates.body.items[0].id as string;
    const browser = await openBrowser('reader');
    const { page } = browser;
    try {
      await page.goto(baseUrl);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await signInByKeyboard(page, 'CONSOLE\\rita', 'rita-pw');
      await page.getByRole('heading', { name: 'Layers' }).waitFor();
      // Tab through the page until the Templates link has the focus, then follow it with Enter.
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press('Tab');
        if ((await page.evaluate('document.activeElement?.textContent')) === 'Templates') break;
      }
      await page.keyboard.press('Enter');
      await visit(browser, 'Image templates', 'templates');
      await page.getByRole('row', { name: /Sales desktop/ }).waitFor();
      expect(await page.getByRole('button', { name: 'Publish' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'New template' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Delete' }).count()).toBe(0);
      // Nor the pages that only start tasks a Reader may not.
      expect(await page.getByRole('link', { name: 'Image Portability' }).count()).toBe(0);
      expect(await page.getByRole('link', { name: 'Layer transfer' }).count()).toBe(0);

      // The API enforces what the page hides: the same call the button would make, from the page.
      const attempt = async (withToken: boolean) =>
        (await page.evaluate(`(async () => {
          const token = document.cookie.split('; ').find((c) => c.startsWith('lamina_csrf=')).slice(12);
          const response = await fetch('/api/templates/${templateId}/publish', {
            method: 'POST',
            headers: { 'content-type': 'application/json'${withToken ? ", 'x-csrf-token': token" : ''} },
            body: '{}',
          });
          return { status: response.status, body: await response.json() };
        })()`)) as { status: number; body: { title: string; detail: string } };
      const refused = await attempt(true);
      expect(refused.status).toBe(403);
      expect(refused.body.detail).toMatch(
        /'images.publish' permission, which none of your roles \(Reader\) grants/,
      );
      const noToken = await attempt(false);
      expect(noToken).toMatchObject({ status: 403, body: { title: 'CSRF token missing or wrong' } });
      expect(browser.errors).toEqual([]);
    } finally {
      await browser.screenshot('last');
      await browser.close();
    }
  });

  it('the console’s template actions are lamina commands too: list, clone, publish --wait, conflicts --json', async () => {
    const { token } = (await admin.post('/api/tokens', { name: 'cli parity' })).body as { token: string };
    // Spawned, not spawnSync: the appliance the command talks to runs in this process.
    const lamina = (...args: string[]) =>
      new Promise<{ status: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [path.join(projectRoot(), 'bin', 'lamina'), 'template', ...args],
          {
            env: { ...process.env, LAMINA_API_URL: baseUrl, LAMINA_API_TOKEN: token },
          },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk) => (out += chunk));
        child.stderr.on('data', (chunk) => (err += chunk));
        child.on('close', (status) => resolve({ status, out, err }));
      });
    const listed = await lamina('list', '--json');
    expect(listed.status).toBe(0);
    expect(JSON.parse(listed.out).map((t: { name: string }) => t.name)).toEqual(['Sales desktop']);
    const cloned = await lamina('clone', 'Sales desktop', 'Sales copy', '--json');
    expect(JSON.parse(cloned.out)).toMatchObject({ name: 'Sales copy' });
    const published = await lamina('publish', 'Sales copy', '--wait', '--json');
    expect({ status: published.status, err: published.err }).toEqual({ status: 0, err: '' });
    const task = JSON.parse(published.out);
    expect(task.state).toBe('completed');
    const conflicts = await lamina('conflicts', task.result.imageId, '--json');
    expect(conflicts.status).toBe(0);
    const report = JSON.parse(conflicts.out);
    expect(report.files).toEqual([expect.objectContaining({ winner: expect.stringMatching(/Editor/) })]);
    expect(report.registry).toEqual([expect.objectContaining({ valueName: 'Owner' })]);
    const unknown = await lamina('publish', 'No such template');
    expect(unknown.status).toBe(2);
    expect(unknown.err).toMatch(/no template is named 'No such template'/);
  }, 300_000);

  it('the administrator: connector forms from the type schema with write-only secrets and a per-field Test, every settings page, 5,000 layers paged', async () => {
    const browser = await openBrowser('administrator');
    const { page } = browser;
    try {
      await signInAsAdministrator(browser, '/connectors');
      await page.getByRole('link', { name: 'Connectors' }).click();
      await visit(browser, 'Connectors', 'connectors');

      const mountPoint = mountedDir('images-share');
      await page.getByRole('button', { name: 'New connector' }).click();
      await page.getByLabel('Type').selectOption({ label: 'Windows File Share' });
      // The fields come from the type's JSON Schema: required ones plain, optional ones marked.
      await page.getByRole('dialog').getByLabel('Name', { exact: true }).fill('Images share');
      await page.getByLabel('Path', { exact: true }).fill('\\\\files\\golden');
      await page.getByLabel('Mount point', { exact: true }).fill(mountPoint);
      expect(await page.getByLabel('User (optional)').isVisible()).toBe(true);
      await page.getByLabel('Password (secret)').fill('Share-Secret-1');
      await browser.screenshot('connector-form');
      expect(await browser.accessibilityViolations()).toEqual([]);
      await page.getByRole('button', { name: 'Save' }).click();
      const row = page.getByRole('row', { name: /Images share/ });
      await row.waitFor();
      expect(await textOf(row.getByRole('cell').nth(4))).toBe('Off'); // Offload compositing
      const stored = (await admin.get('/api/connectors?name=Images share')).body.items[0];
      expect(stored.secretsSet).toEqual({ password: true });
      expect(JSON.stringify(stored)).not.toContain('Share-Secret-1');
      await row.getByRole('button', { name: 'Edit' }).click();
      expect(await page.getByLabel('Password (secret)').inputValue()).toBe('');
      expect(await page.getByText('Set; leave empty to keep it').isVisible()).toBe(true);
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'detached' });

      await row.getByRole('button', { name: 'Test' }).click();
      const checks = page.locator('.panel table tbody tr');
      await checks.first().waitFor({ timeout: 60_000 });
      await waitForText(page.locator('.panel table'), 'mountPoint');
      await visit(browser, 'Connectors', 'connector-tested');

      for (const [link, heading, name] of [
        ['Elastic layers', 'Elastic assignments', 'elastic'],
        ['User layer storage', 'User layer storage', 'storage'],
        ['Directory junctions', 'Directory junctions', 'directory'],
        ['Roles', 'Role assignments', 'roles'],
        ['API tokens', 'API tokens', 'tokens'],
        ['Audit log', 'Audit log', 'audit'],
        ['Published images', 'Published images', 'images'],
      ]) {
        await page.getByRole('link', { name: link, exact: true }).click();
        await visit(browser, heading, name);
      }
      await portabilityAndTransfer(browser);

      await page.getByRole('link', { name: 'Directory junctions' }).click();
      await page
        .getByRole('row', { name: /Console Directory/ })
        .getByRole('button', { name: 'Test' })
        .click();
      await waitForText(page.getByRole('status', { name: 'Test of Console Directory' }), 'baseDn');
      await browser.screenshot('directory-tested');

      // 5,000 layers: the list shows one page of 50 rows and pages through the rest.
      await app.stack.pool.query(
        `INSERT INTO layers (id, type, name, os_layer_id)
         SELECT gen_random_uuid(), 'app', 'Bulk ' || lpad(n::text, 4, '0'), $1 FROM generate_series(1, 5000) n`,
        [os.layerId],
      );
      await page.getByRole('link', { name: 'Layers', exact: true }).click();
      await page.getByText(/of 5003/).waitFor();
      expect(await page.locator('main tbody tr').count()).toBe(50);
      await page.getByRole('button', { name: 'Next ›' }).click();
      await page.getByText('51–100 of 5003').waitFor();
      await page.getByRole('searchbox', { name: 'Name' }).fill('Bulk 4999');
      await page.getByText('1–1 of 1').waitFor();
      await visit(browser, 'Layers', 'layers-filtered');
      expect(browser.errors).toEqual([]);
    } finally {
      await browser.screenshot('last');
      await browser.close();
    }
  });
  it('Offload Compositing: the connector setting turned on in its form, and the publish task shows its Compositing Engine', async () => {
    const browser = await openBrowser('offload');
    const { page } = browser;
    try {
      await signInAsAdministrator(browser, '/connectors');
      await page.getByRole('link', { name: 'Connectors' }).click();
      const local = page.getByRole('row', { name: /Local storage pool/ });
      await local.getByRole('button', { name: 'Edit' }).click();
      await page.getByRole('checkbox', { name: 'Offload compositing' }).check();
      await page.getByRole('button', { name: 'Save' }).click();
      await waitForText(local, 'On: composes in a Compositing Engine');
      expect((await admin.get(`/api/connectors/${LOCAL_CONNECTOR}`)).body.offloadCompositing).toBe(true);

      // A master image on the local connector: its compose runs in an engine, a `lamina ce` process
      // reading the layers over iSCSI from the appliance's target (tgtd).
      const created = await admin.post('/api/templates', {
        name: 'Offloaded desktop',
        osVersionId: os.versionId,
        appVersionIds: [baseTools.versionId],
        connectorId: LOCAL_CONNECTOR,
        diskSizeGb: 2,
        diskFormat: 'VHDX',
        firmware: 'UEFI',
      });
      expect(created.status).toBe(201);
      await page.getByRole('link', { name: 'Templates' }).click();
      await page
        .getByRole('row', { name: /Offloaded desktop/ })
        .getByRole('button', { name: 'Publish' })
        .click();
      const engines = page.getByRole('list', { name: 'Compositing Engines' });
      await waitForText(engines, /Compositing Engine [0-9a-f-]{36} on Local: /);
      await visit(browser, 'Image templates', 'offload-engine');
      const badge = page.locator('.task-watch .badge').filter({ hasText: /^(completed|failed|cancelled)$/ });
      await badge.waitFor({ timeout: 240_000 });
      expect(await textOf(badge)).toBe('completed');
      // The engine is removed with the task's end, and the task no longer names one.
      expect(await engines.count()).toBe(0);
      expect(
        (await app.stack.pool.query('SELECT count(*)::int AS n FROM compositing_engines')).rows[0].n,
      ).toBe(0);
      expect(browser.errors).toEqual([]);
    } finally {
      await browser.screenshot('last');
      await browser.close();
    }
  }, 300_000);
});
