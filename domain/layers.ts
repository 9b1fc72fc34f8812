/** The three kinds of layer (ARCHITECTURE.md §3); app and platform layers are bound to an OS layer. */
export const LAYER_TYPES = ['os', 'platform', 'app'] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

/**
 * A layer version's life (ARCHITECTURE.md §3): Creating while a task makes it, ActionRequired while a
 * packaging machine waits for the admin, Finalizing while it is captured, then Deployable or Failed;
 * Deleted once removed.
 */
export const VERSION_STATES = [
  'Creating',
  'ActionRequired',
  'Finalizing',
  'Deployable',
  'Failed',
  'Deleted',
] as const;
export type VersionState = (typeof VERSION_STATES)[number];

/**
 * Whether an app layer version can be delivered as an elastic layer, as its capture judged it
 * (compositor/capture/elastic-fit.ts), with one reason per finding.
 */
export const ELASTIC_FIT_VERDICTS = ['fit', 'not_recommended', 'unfit'] as const;
export interface ElasticFit {
  verdict: (typeof ELASTIC_FIT_VERDICTS)[number];
  reasons: { rule: string; detail: string }[];
}
