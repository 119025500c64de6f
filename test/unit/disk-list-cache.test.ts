/** The disk list cache over the embedded store (in memory); over etcd in test/integration/coord-etcd.test.ts. */
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { diskListCacheSuite } from '../conformance/disk-list-cache.suite.js';

diskListCacheSuite('embedded store', async () => {
  const store = new EmbeddedStore({ tickMs: 50 });
  return { store, cleanup: () => store.close() };
});
