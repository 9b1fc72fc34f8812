import type { UserLayerMode } from './user-layers';

/**
 * A template's elastic layering option: off, app layers delivered at logon, or app layers with user
 * layers (App Layering's older spelling of elastic layering with Full user layers).
 */
export const ELASTIC_LAYERING_MODES = ['none', 'app', 'app_and_user'] as const;
export type ElasticLayeringMode = (typeof ELASTIC_LAYERING_MODES)[number];

/**
 * What a template's elastic layering and user-layer options put into its images
 * (compositor/image-settings.ts writes it into the hives): what the Layering Service on a desktop needs
 * to find the elastic layer share and the user-layer storage locations.
 */
export interface ImageSettings {
  /** Elastic layering on: the share desktops mount elastic layers from (HKLM\SOFTWARE\Unidesk\ULayer\RepositoryPath). */
  elasticShare?: string;
  userLayer?: {
    mode: Exclude<UserLayerMode, 'none'>;
    /** Highest priority first; `groups` are SIDs or DOMAIN\group names (none: every user). */
    locations: { sharePath: string; groups: string[] }[];
    sizeGb?: number;
  };
}

/** The user-layer mode a template's images get: its own, or Full when its elastic layering says app and user layers. */
export function userLayerModeOf(template: {
  elasticLayering: ElasticLayeringMode;
  userLayer: UserLayerMode;
}): UserLayerMode {
  return template.userLayer === 'none' && template.elasticLayering === 'app_and_user'
    ? 'full'
    : template.userLayer;
}
