/**
 * Names people choose that end up as file names: a template's name becomes its published images'
 * file names on a share or datastore, a layer's name names its disks where a hypervisor shows
 * them. An allow-list, not a deny-list: letters and digits of any script, spaces and a few marks
 * that mean nothing to a shell, to Windows or to a URL. The API refuses other names with the rule
 * they break (nameProblem); names stored before the rule existed are made safe where a file name
 * is derived from them (fileNameStem), so none can carry `$(…)`, a backtick, `;`, `|`, `%VAR%`,
 * a newline or `..` into a file name.
 */

export const NAME_RULE =
  'letters, digits, spaces and - _ . ( ) + , only; not starting with a dot, hyphen or space, not ' +
  "ending with a dot or space, no '..', and not a name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9)";

const ALLOWED_CHARACTERS = /^[\p{L}\p{M}\p{N} _.()+,-]*$/u;
/** Runs of characters outside the allow-list, and of spaces, which fileNameStem turns into one '-'. */
const REPLACED = /[^\p{L}\p{M}\p{N}_.()+,-]+/gu;
/**
 * Windows opens the device, not a file, for these base names whatever follows the first dot
 * (`nul.txt`, `con.tar.gz`) and ignores spaces before that dot. The superscript digits count too.
 */
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]) *(\.|$)/i;

/** The rule `name` breaks, in words for a 4xx answer, or undefined when it may become a file name. */
export function nameProblem(name: string): string | undefined {
  if (!ALLOWED_CHARACTERS.test(name)) {
    return 'may contain only letters, digits, spaces and - _ . ( ) + , (no $, `, ;, |, &, %, quotes, slashes or control characters)';
  }
  if (/^[. -]/.test(name)) return 'must not start with a dot, a hyphen or a space';
  if (/[. ]$/.test(name)) return 'must not end with a dot or a space';
  if (name.includes('..')) return "must not contain '..'";
  if (RESERVED.test(name))
    return 'must not be a device name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9)';
  return undefined;
}

/**
 * The part of a file name that stands for `name`, for names of any age: every run of characters
 * outside the allow-list and of spaces becomes one '-' (as file names had it before the rule),
 * dots never double, lead or end, a reserved device name gets a '_' after it and an empty result
 * a name. The result always passes nameProblem.
 */
export function fileNameStem(name: string): string {
  const stem = name
    .replace(REPLACED, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[.-]+/, '')
    .replace(/\.+$/, '');
  if (stem === '') return 'unnamed';
  // `nul` → `nul_`, `con.x` → `con_.x`: no longer a device, and still starting with a letter.
  return stem.replace(RESERVED, (device: string, base: string) => `${base}_${device.slice(base.length)}`);
}
