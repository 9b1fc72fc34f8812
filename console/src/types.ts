/** The API's objects as the console reads them (the API's zod schemas are the source; see /api/docs). */

export type LayerType = 'os' | 'platform' | 'app';
export type VersionState = 'Creating' | 'ActionRequired' | 'Finalizing' | 'Deployable' | 'Failed' | 'Deleted';

export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
}

export interface Me {
  name: string;
  kind: 'local' | 'directory';
  roles: string[];
  permissions: string[];
  via: 'session' | 'token';
}

export interface Layer {
  id: string;
  type: LayerType;
  name: string;
  description: string;
  osLayerId: string | null;
  osLayerName: string | null;
  connectorId: string | null;
  versionCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface LayerVersion {
  id: string;
  layerId: string;
  version: string;
  description: string;
  state: VersionState;
  creationSequence: number;
  sizeBytes: number | null;
  sha256: string | null;
  elasticFit: 'fit' | 'not_recommended' | 'unfit' | null;
  /** One finding each (a boot-start driver, a service, …). */
  elasticFitReasons: { rule: string; detail: string }[];
  scripts: string[];
  osVersionId: string | null;
  basedOnVersionId: string | null;
  action: { connectorId: string; vm: { id: string; name: string }; instructions: string } | null;
  taskId: string | null;
  createdAt: string;
}

export interface Template {
  id: string;
  name: string;
  description: string;
  osVersionId: string;
  platformVersionId: string | null;
  appVersionIds: string[];
  connectorId: string;
  diskSizeGb: number;
  diskFormat: 'VHD' | 'VHDX' | 'VMDK';
  firmware: 'BIOS' | 'UEFI';
  elasticLayering: 'none' | 'app' | 'app_and_user';
  userLayer: 'none' | 'full' | 'office365' | 'session_office365';
  sysprep: 'none' | 'generalize' | 'generalize_offline';
  warnings?: { field: string; message: string }[];
  createdAt: string;
  updatedAt: string;
}

export interface Conflict {
  path?: string;
  key?: string;
  valueName?: string;
  winner: string;
  losers: string[];
  merged?: boolean;
}

export interface PublishedImage {
  id: string;
  name: string;
  templateId: string | null;
  outputLocation: string;
  sha256: string | null;
  conflictReport: { files?: Conflict[]; registry?: Conflict[] } | null;
  layerVersions: unknown;
  publishedAt: string;
}

export interface Connector {
  id: string;
  type: string;
  name: string;
  settings: Record<string, unknown>;
  secretsSet: Record<string, boolean>;
  offloadCompositing: boolean;
  packagingCacheGb: number;
  packagingCacheHitRate: number | null;
  postPublishScript: string | null;
  implemented: boolean;
}

/** A JSON Schema as the API serves it for connector settings (zod's toJSONSchema output). */
export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: (string | number)[];
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: string;
}

export interface ConnectorType {
  type: string;
  label: string;
  settings: JsonSchema;
  secretFields: string[];
  defaultPackagingCacheGb?: number;
  imageFormats: Record<string, string[]>;
  maxDiskGb: number;
  capabilities: string[];
  implemented: boolean;
}

export interface TaskProgress {
  step: string;
  attempt: number;
  lastFailure?: string;
  phase?: string;
  done?: number;
  total?: number;
  percent?: number;
}

export interface Task {
  id: string;
  type: string;
  state: 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out';
  summary?: string;
  objectId?: string;
  user?: string;
  startedAt: string;
  closedAt?: string;
  progress?: TaskProgress[];
  /** Child workflows running for it (an offloaded publish's offloadCompose). */
  children?: { id: string; type: string }[];
  /** The Compositing Engines its offloaded compose has now (Offload Compositing). */
  compositingEngines?: CompositingEngine[];
  result?: unknown;
  error?: string;
}

export interface CompositingEngine {
  id: string;
  connectorId: string;
  connectorName: string;
  createdAt: string;
  registeredAt: string | null;
}
