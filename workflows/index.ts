// Every workflow the appliance worker runs. Deterministic code only: activities are imported as types.
export { diagnostics } from './diagnostics';
export { testConnector } from './test-connector';
