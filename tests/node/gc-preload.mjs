// Preloaded by tests/node/run-gc (node --expose-gc --import): collects garbage
// every few milliseconds and after each test, so that the finalizers of addon
// handles (perdure_vm, perdure_store, perdure_lease) run while their async work
// (lease waits, checkpoints) is in flight. A use-after-free or double free in
// bindings/node/src/addon.c then shows up as a crash or a failing test.
// Without --expose-gc it does nothing.
const gc = globalThis.gc;
if (typeof gc === 'function') {
  const ms = Number(process.env.PERDURE_GC_INTERVAL_MS) || 2;
  setInterval(gc, ms).unref();
  // Only in a test file's own process: node --test sets NODE_TEST_CONTEXT there,
  // but its children (worker CLI processes) inherit it and must not load node:test.
  if (process.env.NODE_TEST_CONTEXT && /\.test\.[cm]?js$/.test(process.argv[1] || '')) {
    const { afterEach } = await import('node:test');
    afterEach(() => gc());
  }
}
