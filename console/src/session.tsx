import { createContext, useContext } from 'react';
import type { Me } from './types';

/** Who is signed in; pages ask `can()` before showing an action (the API enforces it anyway). */
export interface Session {
  me: Me;
  can(permission: string): boolean;
  temporalWorkflowsUrl: string | null;
  signOut(): Promise<void>;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}
