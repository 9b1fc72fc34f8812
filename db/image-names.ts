import type { Pool } from 'pg';

/**
 * Reserves the name of the image `imageId` publishes: `stamped` (`<template>_<date_time>`) unless an
 * image had it already (compared without case, as Windows shares compare file names), then the first
 * free of `stamped_2`, `stamped_3`… Asked again for the same image, it answers that image's name.
 */
export async function claimImageName(pool: Pool, imageId: string, stamped: string): Promise<string> {
  const own = async () =>
    (await pool.query<{ name: string }>('SELECT name FROM image_names WHERE image_id = $1', [imageId]))
      .rows[0]?.name;
  for (let n = 1; ; n++) {
    const reserved = await own();
    if (reserved) return reserved;
    const candidate = n === 1 ? stamped : `${stamped}_${n}`;
    const { rows } = await pool.query<{ name: string }>(
      'INSERT INTO image_names (name, image_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING name',
      [candidate, imageId],
    );
    if (rows[0]) return rows[0].name;
  }
}
