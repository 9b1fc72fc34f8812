/**
 * The publish-target capability of a connector that takes image files (Windows file share, PVS store).
 * A copy resumes from `resumeFrom` bytes, so a worker that dies mid-copy does not start over.
 */
export interface CopyProgress {
  done: number;
  total: number;
}

/** An image in the store: its local path, and the size and SHA-256 of what was copied there. */
export interface StoredImage {
  path: string;
  sizeBytes: number;
  sha256: string;
}

export interface ImageStore {
  /** Where a published file of this name lives, as the admin sees it (e.g. a UNC path). */
  locationOf(fileName: string): string;
  /**
   * Copies `source` into the store as `fileName`, under a temporary name renamed when complete, hashing
   * it on the way. Resolves to the local path of the published file and its digest.
   */
  putImage(
    source: string,
    fileName: string,
    options: { resumeFrom: number; onProgress: (progress: CopyProgress) => void; signal?: AbortSignal },
  ): Promise<StoredImage>;
  /** Removes the image and any partial copy of it. */
  removeImage(fileName: string): Promise<void>;
}
