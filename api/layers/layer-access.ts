import type { Pool } from 'pg';
import { findLayer } from '../../db/layers';
import type { Caller } from '../auth/identity';
import { hasPermission, type Permission } from '../auth/roles';
import type { LayerType } from '../../domain/layers';
import { HttpProblem, notFound } from '../problem';

/** What a layer's own type asks of whoever changes it: OS, App and Platform Layer Contributors split the work. */
export function layerTypePermission(type: LayerType): Permission {
  return `layers.${type}.write`;
}

export function requireLayerTypePermission(caller: Caller, type: LayerType): void {
  const permission = layerTypePermission(type);
  if (!hasPermission(caller.roles, permission)) {
    throw new HttpProblem({
      title: 'Permission denied',
      status: 403,
      detail: `Changing ${type} layers needs the '${permission}' permission, which none of your roles (${caller.roles.join(', ') || 'none'}) grants.`,
    });
  }
}

/**
 * The `authorizeObject` of every route that changes a layer or makes a version of it: the layer named by
 * `:id` must exist and the caller must hold its type's permission, on top of the route's own.
 */
export function layerTypeAccess(pool: Pool) {
  return async (params: { id: string }, caller: Caller): Promise<void> => {
    const layer = await findLayer(pool, params.id);
    if (!layer) throw notFound('Layer', params.id);
    requireLayerTypePermission(caller, layer.type);
  };
}
