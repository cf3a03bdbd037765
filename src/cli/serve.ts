// `airlock serve`: the production server. SIGHUP reloads the config (validated first; on error the
// old one stays); SIGTERM/SIGINT drain in-flight requests and stop.
import { chooseRedis } from '../backend.js'
import { loadConfigFile } from '../config/load.js'
import { ConfigError } from '../errors.js'
import { createLogger } from '../log.js'
import { buildBroker, type RunningBroker } from '../broker.js'
import { CliError, EXIT } from '../client/exit.js'
import { limitHeapGrowth } from './heap.js'

export function configPath(flag: string | undefined): string {
  const path = flag ?? process.env['AIRLOCK_CONFIG']
  if (!path) throw new CliError('no config: pass --config FILE or set AIRLOCK_CONFIG', EXIT.usage)
  return path
}

export function handleSignals(
  broker: RunningBroker,
  log: ReturnType<typeof createLogger>,
  reload?: () => Promise<void>,
) {
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down')
    const force = setTimeout(() => process.exit(EXIT.software), 10_000)
    force.unref()
    broker.close().then(
      () => process.exit(0),
      () => process.exit(EXIT.software),
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  if (reload) {
    process.on('SIGHUP', () => {
      reload().then(
        () => log.info('config reloaded'),
        (e: unknown) =>
          log.error(
            { problems: e instanceof ConfigError ? e.problems : [(e as Error).message] },
            'config reload failed; the previous config stays in force',
          ),
      )
    })
  }
}

export async function serve(flag: string | undefined): Promise<void> {
  limitHeapGrowth()
  const path = configPath(flag)
  const log = createLogger()
  const config = await loadConfigFile(path)
  try {
    chooseRedis(config, false)
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.config)
  }
  const broker = await buildBroker({ config, logger: log }).catch((e: unknown) => {
    throw new CliError(
      (e as Error).message,
      /Redis|connect/i.test((e as Error).message) ? EXIT.unavailable : EXIT.config,
    )
  })
  await broker.app.listen({ host: config.server.host, port: config.server.port })
  const metrics = config.server.metrics
  if (metrics.mode === 'listen')
    log.info({ host: metrics.host, port: broker.metricsPort }, 'metrics listening')
  handleSignals(broker, log, async () => broker.reload(await loadConfigFile(path)))
}
