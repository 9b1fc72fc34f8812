import { resourceCommand, wholeNumber } from '../resource-command';

interface TokenView {
  id: string;
  name: string;
  owner: string;
  expiresAt: string;
  revokedAt: string | null;
  token?: string;
}

/** `lamina token`: the console's API tokens page, the caller's own tokens (Administrators see all). */
export const tokenCommand = resourceCommand<TokenView>({
  command: 'token',
  noun: 'API token',
  path: '/api/tokens',
  named: true,
  deletable: true,
  line: (t) =>
    `${t.id}  ${t.name}  ${t.owner}  ${t.revokedAt ? `revoked ${t.revokedAt}` : `expires ${t.expiresAt}`}` +
    (t.token ? `\n${t.token}` : ''),
  about: `API tokens for scripts and this command line (Authorization: Bearer). create prints the secret
once, on the line after the token: copy it then. delete revokes a token; it stays listed as revoked.`,
  actions: {
    create: {
      usage: 'create --name NAME [--days N] [--json]',
      options: { name: 'value', days: 'value' },
      async run({ api, options, print }) {
        const days = wholeNumber(options, 'days');
        print(
          await api.post<TokenView>('/api/tokens', {
            name: options.values.get('name'),
            ...(days === undefined ? {} : { expiresInDays: days }),
          }),
        );
        return 0;
      },
    },
  },
});
