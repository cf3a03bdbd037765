import fp from 'fastify-plugin'

export default fp(
  async (app) => {
    const { requests, latency } = app.broker.metrics
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched'
      requests.inc({ method: req.method, route, status: String(reply.statusCode) })
      latency.observe({ method: req.method, route }, reply.elapsedTime / 1000)
    })
  },
  { name: 'metrics', dependencies: ['broker'] },
)
