import { SEARCH_ATTRIBUTE_KEYS } from '../domain/search-attributes';

/**
 * Lamina's custom search attributes (domain/search-attributes.ts) as `temporal server start-dev
 * --search-attribute NAME=TYPE` and the namespace check take them: name → type. All are Keyword.
 */
export const LAMINA_SEARCH_ATTRIBUTES: Readonly<Record<string, 'Keyword'>> = Object.fromEntries(
  SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, 'Keyword']),
);
