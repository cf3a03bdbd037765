// `airlock mcp`: the MCP server for agent hosts (Claude Code, Cursor, ...), as this agent's key.
import type { Command } from 'commander'
import { clientFor } from '../../client/client.js'
import { globals } from './globals.js'

export function registerMcpCommand(program: Command) {
  program
    .command('mcp')
    .description(
      'serve the Model Context Protocol on stdin/stdout for an agent host; credentials never reach the model',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const c = await clientFor(globals(cmd))
      // Loaded here: the SDK is not worth its start-up time to every other command.
      const { serveMcp } = await import('../../mcp/server.js')
      await serveMcp(c)
    })
}
