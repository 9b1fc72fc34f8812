import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ComposeError } from '../compositor/errors';
import { PathRefused } from '../config/host-paths';
import { ConnectorNotInBuildError } from '../connectors';
import { EngineLaunchError } from '../connectors/ce-host';
import { AzureStorageError } from '../connectors/azure/blob-storage';
import { AzureResourceManagerError, AzureSignInError } from '../connectors/azure/resource-manager';
import { ElasticShareError } from '../connectors/elastic-share/errors';
import { GuestStateError } from '../connectors/local/guest';
import { VmHostLookupError } from '../connectors/vm-host';
import { PublishPlanError, TemplateNotFoundError } from '../db/publish-plans';
import { DiskFormatError } from '../disk/errors';
import { ChapCredentialsError, LayerTargetError } from '../iscsi';
import { RegistryHiveError, RegistryRootError, RegSyntaxError } from '../registry';
import { LayerTransferError } from './layer-transfer-manifest';

/**
 * The failure table at the activity edge (ARCHITECTURE.md §6): domain errors that retrying cannot
 * heal, each with the non-retryable failure type a task fails with at once, its message naming the
 * cause. Anything not listed (a dropped connection, a full disk, a crashed core) is retried by the
 * workflow's retry policy. A subclass comes before its base class: the first match wins.
 */
const PERMANENT: readonly (readonly [abstract new (...args: never[]) => Error, string])[] = [
  // The compositor's inputs: not a layer disk, no Windows on the VM disk, an image too small for its layers.
  [ComposeError, 'ComposeError'],
  [DiskFormatError, 'DiskFormatError'],
  [RegSyntaxError, 'RegSyntaxError'],
  [RegistryRootError, 'RegistryRootError'],
  [RegistryHiveError, 'RegistryHiveError'],
  // Not found: the template, a VM or stored disk on the connector.
  [TemplateNotFoundError, 'TemplateNotFound'],
  [PublishPlanError, 'TemplateNotPublishable'],
  [VmHostLookupError, 'VmHostLookupError'],
  [GuestStateError, 'GuestStateError'],
  [ConnectorNotInBuildError, 'ConnectorNotInBuild'],
  // Azure storage refused the connector's credential (expired, no write permission) or has no such container.
  [AzureStorageError, 'AzureStorageError'],
  // Entra ID refused the service principal; Resource Manager refused a request (no such group, size, subnet).
  [AzureSignInError, 'AzureSignInError'],
  [AzureResourceManagerError, 'AzureResourceManagerError'],
  [ElasticShareError, 'ElasticShareUnusable'],
  [LayerTransferError, 'LayerTransferRefused'],
  // An iSCSI target that cannot be made as asked: a layer version not Deployable, a bad name or credential.
  [LayerTargetError, 'IscsiTargetRefused'],
  [ChapCredentialsError, 'ChapCredentialsRefused'],
  // A Compositing Engine the connector cannot start as set up (its network namespace is gone).
  [EngineLaunchError, 'EngineLaunchRefused'],
  // Validation: a path outside what the appliance may read, a stored row its schema now refuses.
  [PathRefused, 'PathRefused'],
  [z.ZodError, 'ValidationError'],
];

/** The failure a task sees for `err`: non-retryable when the table lists its class, else `err` as is. */
export function classifyFailure(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof ApplicationFailure) return err;
  const entry = PERMANENT.find(([type]) => err instanceof type);
  if (!entry) return err;
  return ApplicationFailure.create({ message: err.message, type: entry[1], nonRetryable: true, cause: err });
}

type Activity = (...args: never[]) => Promise<unknown>;

/** Every activity of `activities`, its errors classified by the table: no activity needs its own try/catch. */
export function withFailureTable<T extends Record<string, Activity>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, activity]) => [
      name,
      async (...args: Parameters<typeof activity>) => {
        try {
          return await activity(...args);
        } catch (err) {
          throw classifyFailure(err);
        }
      },
    ]),
  ) as T;
}
