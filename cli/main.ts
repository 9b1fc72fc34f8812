import { UsageError } from './command';
import { commands } from './commands';

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    'Usage: lamina <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `lamina <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(overview());
    return name ? 0 : 2;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    console.error(`lamina: unknown command '${name}'\n\n${overview()}`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`lamina ${name}: ${err.message}`);
      return 2;
    }
    console.error(`lamina ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
