import { loadConfigFile } from '../config/load.js'
import { ConfigError } from '../errors.js'
import { EXIT } from '../client/exit.js'

/** Prints every problem with its path; exit 0 when the config is valid. */
export async function configCheck(path: string): Promise<number> {
  try {
    const c = await loadConfigFile(path, process.env, { allowMissingStore: true })
    process.stdout.write(
      `${path}: ok (${c.environments.length} environments, ${c.agents.length} agents, ${c.humans.length} humans, ` +
        `${c.providers.length} providers, ${c.policies.length} policies)\n`,
    )
    return EXIT.ok
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    for (const p of e.problems) process.stderr.write(`${p.path ? `${p.path}: ` : ''}${p.message}\n`)
    process.stderr.write(`${path}: ${e.problems.length} problem(s)\n`)
    return EXIT.config
  }
}
