import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '../../../agent/store/fs-object-store.js';
import { MemoryObjectStore } from '../../../agent/store/memory-object-store.js';
import { MemoryStateStore } from '../../../agent/store/memory-state-store.js';
import { objectStoreContract } from './object-store-contract.js';
import { stateStoreContract } from './state-store-contract.js';

objectStoreContract('memory', async (opts) => ({ store: new MemoryObjectStore(opts), close: async () => undefined }), { largeBytes: 3 * 1024 * 1024 });

objectStoreContract('local directory', async (opts) => {
  const dir = await mkdtemp(join(tmpdir(), 'squirrel-fs-store-'));
  return { store: new FsObjectStore(dir, opts), close: () => rm(dir, { recursive: true, force: true }) };
});

stateStoreContract('memory', async () => ({ store: new MemoryStateStore(), close: async () => undefined }));
