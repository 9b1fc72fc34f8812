/** How the console names the API's enum values. */
export const TYPE_LABEL: Record<string, string> = { os: 'OS', platform: 'Platform', app: 'App' };
