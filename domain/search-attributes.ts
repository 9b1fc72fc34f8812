import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Lamina's custom search attributes (ARCHITECTURE.md §1): every task is started with them, and the
 * API lists and filters tasks through Temporal visibility by them. All are Keyword, matched exactly.
 */
export const TASK_TYPE_KEY = defineSearchAttributeKey('LaminaTaskType', SearchAttributeType.KEYWORD);
/** The id of the object the task works on (a layer, template or connector). */
export const OBJECT_ID_KEY = defineSearchAttributeKey('LaminaObjectId', SearchAttributeType.KEYWORD);
/** Who started the task. */
export const USER_KEY = defineSearchAttributeKey('LaminaUser', SearchAttributeType.KEYWORD);

/** Every one of them, for registering with a Temporal namespace. */
export const SEARCH_ATTRIBUTE_KEYS = [TASK_TYPE_KEY, OBJECT_ID_KEY, USER_KEY] as const;
