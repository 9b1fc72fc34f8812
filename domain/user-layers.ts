/**
 * User layers (reference architecture, "User Layer"): a writable layer per user, per OS layer, per
 * domain, made on the user's first logon on the storage location their groups give them.
 */

/** A template's user-layer setting: none, or which kind of user layer desktops of the image make. */
export const USER_LAYER_MODES = ['none', 'full', 'office365', 'session_office365'] as const;
export type UserLayerMode = (typeof USER_LAYER_MODES)[number];

/** The size a user layer may grow to unless the share's quota or the image says otherwise. */
export const DEFAULT_USER_LAYER_SIZE_GB = 10;

/** Where a user's layer lives: `\\server\share\Users\DOMAIN_user\<OS layer id>_<OS layer name>`. */
export function userLayerFolder(
  sharePath: string,
  user: { domain: string; name: string },
  osLayer: { id: string; name: string },
): string {
  return `${sharePath.replace(/\\+$/, '')}\\Users\\${user.domain}_${user.name}\\${osLayer.id}_${osLayer.name}`;
}
