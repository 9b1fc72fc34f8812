/**
 * Lamina's custom search attributes: the API lists and filters tasks through Temporal visibility with
 * them (ARCHITECTURE.md §1). All are Keyword so they can be matched exactly.
 */
export const LAMINA_SEARCH_ATTRIBUTES = {
  LaminaTaskType: 'Keyword',
  LaminaObjectId: 'Keyword',
  LaminaUser: 'Keyword',
} as const;
