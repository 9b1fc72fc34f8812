export {
  checkChapCredentials,
  ChapCredentialsError,
  deriveChapCredentials,
  type ChapCredentials,
} from './chap';
export {
  configuredLayerTargets,
  iqnFor,
  LayerTargetError,
  LayerTargets,
  type LayerLun,
  type LayerTarget,
  type LayerTargetSpec,
} from './layer-targets';
export { RawExportCache, type LayerSource, type RawExport } from './raw-export-cache';
export {
  startTargetDaemon,
  stopLeftoverTargetDaemon,
  type Portal,
  type TargetDaemon,
  type TargetDaemonOptions,
} from './target-daemon';
export { Tgtadm, type TgtTarget } from './tgtadm';
