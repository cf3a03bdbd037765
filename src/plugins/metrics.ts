import fp from 'fastify-plugin'

export default fp(
  async (app) => {
    const { requests, latency } = app.broker.metrics
    // A callback, not a promise: it runs on every request.
    app.addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url ?? 'unmatched'
      requests.inc({ method: req.method, route, status: String(reply.statusCode) })
      latency.observe({ method: req.method, route }, reply.elapsedTime / 1000)
      done()
    })
  },
  { name: 'metrics', dependencies: ['broker'] },
)
