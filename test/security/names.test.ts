import fs from 'node:fs';
import path from 'node:path';
import { makeEsp } from '../../compositor/esp';
import { parseExtents } from '../../connectors/vsphere/vmdk-descriptor';
import { fileNameStem, nameProblem } from '../../domain/file-names';
import type { PublishImageResult } from '../../workflows/publish-image';
import { testDir } from '../harness';
import {
  appPackage,
  completed,
  createLayer,
  fileshareConnector,
  filesUnder,
  goldImage,
  importedOs,
  startAppliance,
  template,
  upload,
  type Appliance,
} from '../workflows/fixtures';

/**
 * Names people choose (templates, layers) must never run anything or become a dangerous file name.
 * Every hostile name below runs `touch $LAMINA_CANARY` if any shell ever sees it, so the canary
 * file must never appear — the first line of defence is the API refusing such names, the second
 * that no name ever reaches a path or argument of an outside tool (a name stored before the rule,
 * put straight into the database here, must still publish safely).
 */
const canary = path.join(testDir('canary'), 'PWNED');
const TOUCH = 'touch$IFS$LAMINA_CANARY';
const STAMP = /_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$/;

const REFUSED: [string, string, RegExp][] = [
  ['command substitution', `PoC$(${TOUCH})`, /may contain only letters, digits/],
  ['backticks', `Tick\`${TOUCH}\``, /may contain only letters, digits/],
  ['a semicolon', `Semi;${TOUCH}`, /may contain only letters, digits/],
  ['a pipe', `Pipe|${TOUCH}`, /may contain only letters, digits/],
  ['a newline', `New\n${TOUCH}`, /may contain only letters, digits/],
  ['an ampersand', `And&&${TOUCH}`, /may contain only letters, digits/],
  ['%VAR%', 'Office %PATH%', /may contain only letters, digits/],
  ['a slash', '../etc/passwd', /may contain only letters, digits/],
  ['..', 'Office..2021', /must not contain '\.\.'/],
  ['a leading dot', '.hidden', /must not start with a dot/],
  ['a leading hyphen', '-rf', /must not start with a dot, a hyphen/],
  ['a trailing dot', 'Office.', /must not end with a dot/],
  ['a reserved name', 'con', /device name Windows reserves/],
  ['a reserved name with an extension', 'NUL.txt', /device name Windows reserves/],
  ['a reserved port name', 'Com1', /device name Windows reserves/],
];

/** Every problem the API reports for `field` of a refused request. */
function problemsOf(response: { status: number; body: { errors?: { field: string; message: string }[] } }) {
  return (response.body.errors ?? []).map((e) => `${e.field}: ${e.message}`).join('\n');
}

describe('names people choose', () => {
  let app: Appliance;
  let os: { layerId: string; versionId: string };
  let share: { id: string; mountPoint: string };
  let existingTemplate: string;

  beforeAll(async () => {
    // The hostile names reach a shell, if one ever sees them, through the worker's environment.
    process.env.LAMINA_CANARY = canary;
    app = await startAppliance();
    os = await importedOs(app.api, await goldImage());
    share = await fileshareConnector(app.api);
    existingTemplate = await template(app.api, {
      name: 'Valid',
      osVersionId: os.versionId,
      connectorId: share.id,
    });
  }, 300_000);
  afterAll(async () => {
    await app?.stop();
    delete process.env.LAMINA_CANARY;
  });
  afterEach(() => expect(fs.existsSync(canary)).toBe(false));

  it.each(REFUSED)(
    'refuses a template or layer name with %s, naming the field and the rule',
    async (_, name, rule) => {
      const fields = {
        osVersionId: os.versionId,
        connectorId: share.id,
        diskSizeGb: 2,
        diskFormat: 'VHDX',
        firmware: 'UEFI',
      };
      const attempts = [
        await app.api.post('/api/templates', { ...fields, name }),
        await app.api.patch(`/api/templates/${existingTemplate}`, { name }),
        await app.api.post(`/api/templates/${existingTemplate}/clone`, { name }),
        await app.api.post('/api/layers', { type: 'app', name, osLayerId: os.layerId }),
        await app.api.patch(`/api/layers/${os.layerId}`, { name }),
      ];
      for (const refused of attempts) {
        expect(refused.status).toBe(422);
        expect(problemsOf(refused)).toMatch(new RegExp(`^body\\.name: .*${rule.source}`, 'm'));
      }
    },
  );

  it('accepts ordinary names with spaces, parentheses, plus signs and letters of any script', async () => {
    for (const name of ['Office 2021 (x64)', 'Notepad++ 8.6', 'Büro-Werkzeuge, v1.2_final', 'con-tools']) {
      const created = await app.api.post('/api/layers', { type: 'app', name, osLayerId: os.layerId });
      expect([created.status, created.body.name]).toEqual([201, name]);
    }
  });

  it('builds a layer and publishes templates whose names were stored before the rule, to safe file names', async () => {
    const hostile = `PoC$(${TOUCH})\`${TOUCH}\`;${TOUCH}|x\n..%PATH%`;

    // A layer named before the rule: built from a package like any other.
    const layerId = await createLayer(app.api, 'app', 'Stored App', os.layerId);
    await app.stack.pool.query('UPDATE layers SET name = $2 WHERE id = $1', [layerId, `.${hostile}`]);
    const pkg = await appPackage({ 'Program Files\\Stored\\app.txt': 'stored' });
    const built = await completed<{ versionId: string }>(
      app.api,
      await app.api.post(`/api/layers/${layerId}/versions/build`, {
        version: '1',
        content: await upload(app.api, pkg.zip),
      }),
    );

    const published: PublishImageResult[] = [];
    for (const stored of [hostile, '.con.x']) {
      const templateId = await template(app.api, {
        name: 'To be renamed',
        osVersionId: os.versionId,
        appVersionIds: [built.versionId],
        connectorId: share.id,
      });
      await app.stack.pool.query('UPDATE image_templates SET name = $2 WHERE id = $1', [templateId, stored]);
      published.push(
        await completed<PublishImageResult>(
          app.api,
          await app.api.post(`/api/templates/${templateId}/publish`),
        ),
      );
    }

    const names = published.map((p) => p.name.replace(STAMP, ''));
    expect(names).toEqual([
      'PoC-(touch-IFS-LAMINA_CANARY)-touch-IFS-LAMINA_CANARY-touch-IFS-LAMINA_CANARY-x-.-PATH-',
      'con_.x',
    ]);
    for (const image of published) {
      expect(image.name).toMatch(STAMP);
      expect(nameProblem(image.name)).toBeUndefined();
      expect(image.location).toBe(`\\\\files\\images\\${image.name}.vhdx`);
    }
    expect(filesUnder(share.mountPoint)).toEqual(published.map((p) => `${p.name}.vhdx`).sort());
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
  }, 600_000);

  it('never lets an output path reach mtools through a shell', async () => {
    const dir = path.join(testDir('esp'), `out$(${TOUCH})\`${TOUCH}\``);
    fs.mkdirSync(dir);
    const file = path.join(dir, 'esp.fat');
    await makeEsp(file, 64 * 2 ** 20, [{ relativePath: 'bootmgfw.efi', data: Buffer.from('boot') }], {
      epoch: 0,
      seed: 'names',
    });
    expect(fs.statSync(file).size).toBe(64 * 2 ** 20);
  });
});

describe('file names derived from names of any age', () => {
  it.each([
    [
      'PoC$(cd&&cd${IFS}..&&cd${IFS}tmp&&touch${IFS}PWNED-uid$(id${IFS}-u))',
      'PoC-(cd-cd-IFS-.-cd-IFS-tmp-touch-IFS-PWNED-uid-(id-IFS--u))',
    ],
    ['Finance Dept', 'Finance-Dept'],
    ['..', 'unnamed'],
    ['...hidden..', 'hidden'],
    ['%USERPROFILE%\\x', 'USERPROFILE-x'],
    ['lpt9.tar.gz', 'lpt9_.tar.gz'],
    ['nul', 'nul_'],
    ['COM1', 'COM1_'],
    ['Büro (x64)', 'Büro-(x64)'],
  ])('%j becomes %j', (name, stem) => {
    expect(fileNameStem(name)).toBe(stem);
    expect(nameProblem(fileNameStem(name))).toBeUndefined();
  });
});

describe('extent file names in a VMDK descriptor from a datastore', () => {
  const descriptor = (extent: string) =>
    `# Disk DescriptorFile\nversion=1\ncreateType="vmfs"\nRW 2048 VMFS "${extent}"\n`;

  it('takes a plain file name next to the descriptor', () => {
    expect(parseExtents(descriptor('disk-flat.vmdk'))).toEqual([
      { access: 'RW', sectors: 2048, type: 'VMFS', file: 'disk-flat.vmdk' },
    ]);
  });

  it.each(['../../../etc/shadow', '/dev/sda', '..', 'sub\\..\\x'])(
    'refuses %j, which leaves its folder',
    (extent) => {
      expect(() => parseExtents(descriptor(extent))).toThrow(/is not a file next to it/);
    },
  );
});
