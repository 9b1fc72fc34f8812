import { UsageError } from './command';
import { laminaClient } from './api-client';
import type { ParsedOptions } from './options';

/**
 * The running appliance's API, for commands that ask it (elastic, user-layer, layer-transfer):
 * `--api URL` or LAMINA_API_URL (default http://127.0.0.1:8080), authenticated with the API token in
 * LAMINA_API_TOKEN (`POST /api/tokens`). The token is read from the environment only, so it never
 * shows in a process list or a shell history.
 */
export const API_OPTION_HELP = `  --api URL         the appliance's API (LAMINA_API_URL; default http://127.0.0.1:8080)
Environment:
  LAMINA_API_TOKEN  an API token (POST /api/tokens) of a user with the rights the command needs`;

export function applianceApi(options: ParsedOptions) {
  const url = options.values.get('api') ?? process.env.LAMINA_API_URL ?? 'http://127.0.0.1:8080';
  const token = process.env.LAMINA_API_TOKEN;
  if (!token) throw new UsageError('set LAMINA_API_TOKEN to an API token (POST /api/tokens)');
  return laminaClient(url.replace(/\/+$/, ''), { authorization: `Bearer ${token}` });
}
