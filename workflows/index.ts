// Every workflow the appliance worker runs. Deterministic code only: activities are imported as types.
export { buildLayerFromPackage } from './build-layer-from-package';
export { createLayerVersion } from './create-layer-version';
export { diagnostics } from './diagnostics';
export { elasticSync } from './elastic-sync';
export { importOsLayer } from './import-os-layer';
export { ipsExport, ipsPrepare, ipsPublish, ipsRun, ipsUpload } from './ips-workflows';
export { layerTransfer } from './layer-transfer';
export { localVmStandIn } from './local-vm-stand-in';
export { offloadCompose } from './offload-compose';
export { publishImage } from './publish-image';
export { testConnector } from './test-connector';
