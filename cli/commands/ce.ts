import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { ENGINE_ENVIRONMENT, registrationProof } from '../../activities/offload-engines';
import { loadConfig, TLS_DATA } from '../../config/env';
import { ENGINE_DATASTORE_SESSION } from '../../connectors/ce-host';
import { codecFromPayloadKeys, PAYLOAD_KEYS_VARIABLE } from '../../config/payload-codec';
import { connectClient, connectWorker } from '../../runtime/temporal-connection';
import { createCeWorker } from '../../worker/ce-worker';
import { engineRegistered } from '../../workflows/offload-compose';
import { UsageError, type CliCommand } from '../command';

const E = ENGINE_ENVIRONMENT;

const usage = `Usage: lamina ce

Runs a Compositing Engine: the worker of one offloaded compose, on its own task queue (ce-<id>). The
appliance launches it (a process for the local connector, a VM made from the connector's engine
template on a hypervisor) and removes it after the compose; it is not started by hand. On vSphere the
template's boot unit starts it with the environment the VM carries in guestinfo.lamina.ce.environment
(base64 JSON, read with vmtoolsd --cmd "info-get guestinfo.lamina.ce.environment").

It registers with the task that made it, proving its one-time token, then composes the task's layers,
read over iSCSI from the appliance's target, straight into the platform's storage. Everything comes from
its environment, never from arguments (which every user of the machine can read):
  ${E.id}, ${E.task}, ${E.token}     who it is, whom it registers with, its one-time token
  ${E.initiator}, ${E.chapSecret}        its iSCSI initiator name and CHAP secret (not given to an
                                                    engine that prepares: it reads no layers)
  ${E.targetChapSecret}                      mutual CHAP, when the target proves itself too
  ${ENGINE_DATASTORE_SESSION}                       vSphere: the engine's own vCenter session, with which it
                                                    writes the image into the datastore (logged out after)
  ${E.caCertificate}                          Azure: the connector's CA (PEM), which its blob clients
                                                    trust besides the public CAs (Azure Stack Hub)
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE              the cluster
  TEMPORAL_API_KEY                                  the cluster's API key, when the appliance has one
  TEMPORAL_TLS, TEMPORAL_TLS_SERVER_NAME            TLS to the cluster, when the appliance's connection uses it
  ${TLS_DATA.ca}                  the cluster's CA (PEM text)
  ${TLS_DATA.cert},                    mTLS: the appliance's client certificate and key (PEM
    ${TLS_DATA.key}                    text), with which the engine proves itself to the cluster
  ${PAYLOAD_KEYS_VARIABLE}                               the payload codec's keys (never the master key)
Ends on SIGTERM or SIGINT; a compose running then is cancelled and removes what it wrote.`;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new UsageError(`${name} is not set: a Compositing Engine is launched by the appliance`);
  return value;
}

export const ceCommand: CliCommand = {
  usage,
  async run(args) {
    if (args.length > 0) throw new UsageError(`unexpected argument '${args[0]}'`);
    const engineId = required(E.id);
    const taskId = required(E.task);
    const token = required(E.token);
    const initiatorName = process.env[E.initiator] || undefined;
    const chapSecret = process.env[E.chapSecret] || undefined;
    if (Boolean(initiatorName) !== Boolean(chapSecret))
      throw new UsageError(`${E.initiator} and ${E.chapSecret} go together: set both or neither`);
    const config = loadConfig();
    if (!config.temporal.address) throw new UsageError('TEMPORAL_ADDRESS is not set');
    const temporal = { ...config.temporal, address: config.temporal.address };
    const dataConverter = { payloadCodecs: [codecFromPayloadKeys(required(PAYLOAD_KEYS_VARIABLE))] };

    const workDir = await fs.mkdtemp(path.join(os.tmpdir(), `lamina-ce-${engineId.slice(0, 8)}-`));
    const workerConnection = await connectWorker(temporal);
    const connection = await connectClient(temporal);
    try {
      const worker = await createCeWorker({
        connection: workerConnection,
        namespace: temporal.namespace,
        engineId,
        dataConverter,
        deps: {
          initiatorName,
          chapSecret,
          targetChapSecret: process.env[E.targetChapSecret] || undefined,
          datastoreSession: process.env[ENGINE_DATASTORE_SESSION] || undefined,
          workDir,
        },
      });
      const stop = () => worker.shutdown();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      const running = worker.run();
      // Polling first, then registering: the compose the task schedules once it admits the engine is
      // picked up at once.
      const client = new Client({ connection, namespace: temporal.namespace, dataConverter });
      await client.workflow
        .getHandle(taskId)
        .signal(engineRegistered, { engineId, proof: registrationProof(token, engineId), initiatorName });
      console.log(`[lamina ce] engine ${engineId} registered with task ${taskId}; polling ce-${engineId}`);
      await running;
      return 0;
    } finally {
      await connection.close();
      await workerConnection.close();
      await fs.rm(workDir, { recursive: true, force: true });
    }
  },
};
